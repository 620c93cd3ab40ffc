#include "core/log_escape.h"

namespace callproxy {
namespace {

unsigned char byte_at(std::string_view text, std::size_t at) noexcept { return static_cast<unsigned char>(text[at]); }

bool is_continuation(unsigned char c) noexcept { return (c & 0xC0) == 0x80; }

// The bytes of the character at `at` that stand as they are: 1 for printable ASCII other than
// the backslash; the length of a well-formed UTF-8 character (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF) other than a C1 control; else 0: that byte is escaped.
std::size_t plain_length(std::string_view text, std::size_t at) noexcept {
  const auto lead = byte_at(text, at);
  if (lead < 0x80) return lead >= 0x20 && lead != 0x7F && lead != '\\' ? 1 : 0;
  std::size_t length = 0;
  unsigned char low = 0x80;  // the second byte's range, narrower after some leads
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    if (lead == 0xC2) low = 0xA0;  // U+0080..U+009F are the C1 controls
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong below U+0800
    if (lead == 0xED) high = 0x9F;  // U+D800..U+DFFF are surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong below U+10000
    if (lead == 0xF4) high = 0x8F;  // past U+10FFFF
  } else {
    return 0;  // a continuation byte out of place, C0/C1 (overlong), or F5..FF
  }
  if (text.size() - at < length) return 0;
  const auto second = byte_at(text, at + 1);
  if (second < low || second > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (!is_continuation(byte_at(text, at + i))) return 0;
  }
  return length;
}

void append_escape(std::string& out, unsigned char c) {
  switch (c) {
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case 0x1B: out += "\\e"; return;
    case '\\': out += "\\\\"; return;
    default: break;
  }
  constexpr char digits[] = "0123456789ABCDEF";
  out += "\\x";
  out += digits[c >> 4];
  out += digits[c & 0x0F];
}

}  // namespace

std::size_t log_safe_prefix(std::string_view text) noexcept {
  std::size_t at = 0;
  while (at < text.size()) {
    const auto length = plain_length(text, at);
    if (length == 0) break;
    at += length;
  }
  return at;
}

std::string log_escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  std::size_t at = 0;
  while (at < text.size()) {
    const auto length = plain_length(text, at);
    if (length > 0) {
      out.append(text.substr(at, length));
      at += length;
    } else {
      append_escape(out, byte_at(text, at));
      ++at;
    }
  }
  return out;
}

}  // namespace callproxy
