// Text for a line of the text log: control bytes, C1 controls and bytes that are not UTF-8 are
// escaped so that a reader sees them; well-formed UTF-8 passes as it is.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/log_escape.h"

using callproxy::log_escaped;
using callproxy::log_safe_prefix;

namespace {

std::string utf8(char32_t code_point) {
  std::string out;
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
  return out;
}

// No byte a terminal or a line reader acts on: no C0 control, no DEL, no C1 control.
bool holds_no_control(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) return false;
    if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xA0) return false;
  }
  return true;
}

// The escapes read back: what a reader of the log can tell the original bytes from.
std::string unescaped(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    const char kind = text.at(++i);
    switch (kind) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'e': out += '\x1b'; break;
      case '\\': out += '\\'; break;
      case 'x':
        out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
        i += 2;
        break;
      default: throw std::runtime_error("unknown escape \\" + std::string(1, kind));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("log text: control bytes are escaped so a reader sees them, and can start no line", "[log]") {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"MZ1\n2030-01-01 00:00:00.000 error forged", "MZ1\\n2030-01-01 00:00:00.000 error forged"},
      {"a\r\nb\tc", "a\\r\\nb\\tc"},
      {"\x1b[31mred\x1b[0m", "\\e[31mred\\e[0m"},
      {"\x1b]0;title\x07", "\\e]0;title\\x07"},
      {std::string("nul\0byte", 8), "nul\\x00byte"},
      {"\x01\x1f\x7f", "\\x01\\x1F\\x7F"},
      // A backslash is doubled, so that "\n" in a line is always an escaped newline.
      {"C:\\n", "C:\\\\n"},
      // C1 controls (U+0080..U+009F): CSI and NEL are controls in UTF-8 too.
      {"\xc2\x9b"
       "31m",
       "\\xC2\\x9B31m"},
      {"\xc2\x85", "\\xC2\\x85"},
      // Bytes that are not well-formed UTF-8, each escaped.
      {"\xff\xfe", "\\xFF\\xFE"},
      {"\x80", "\\x80"},
      {"\xc0\xaf", "\\xC0\\xAF"},                    // overlong '/'
      {"\xe0\x80\xaf", "\\xE0\\x80\\xAF"},           // overlong '/'
      {"\xed\xa0\x80", "\\xED\\xA0\\x80"},           // a surrogate
      {"\xf4\x90\x80\x80", "\\xF4\\x90\\x80\\x80"},  // past U+10FFFF
      {"\xe2\x82", "\\xE2\\x82"},                    // cut short at the end
      {"\xe2\x82x", "\\xE2\\x82x"},                  // cut short by another character
  };
  for (const auto& [text, escaped] : cases) {
    INFO(escaped);
    CHECK(log_escaped(text) == escaped);
    CHECK(log_safe_prefix(text) < text.size());
  }
}

TEST_CASE("log text: printable ASCII and well-formed UTF-8 other than C1 controls pass as they are", "[log]") {
  for (const std::string text :
       {"", "call MZ1 (CA1): started, 2 backends", "peer=[::1]:443 path=/a?b#c",
        "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\x9e", "cut\xe2\x80\xa6", "\xc2\xa0nbsp"}) {
    INFO(text);
    CHECK(log_safe_prefix(text) == text.size());
    CHECK(log_escaped(text) == text);
  }
  // Every code point outside the controls (and the backslash); surrogates cannot be encoded.
  for (char32_t code_point = 0; code_point <= 0x10FFFF; ++code_point) {
    if (code_point >= 0xD800 && code_point <= 0xDFFF) continue;
    const bool control = code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F) || code_point == '\\';
    const auto text = utf8(code_point);
    if ((log_safe_prefix(text) == text.size()) == control) FAIL("U+" << std::hex << static_cast<unsigned>(code_point));
  }
}

TEST_CASE("log text: what the escaping writes holds no control and reads back as the bytes, whatever they are",
          "[log]") {
  // Every one and two bytes, and each after a character cut short.
  for (int first = 0; first < 256; ++first) {
    for (int second = -1; second < 256; ++second) {
      std::string text(1, static_cast<char>(first));
      if (second >= 0) text += static_cast<char>(second);
      for (const auto& input : {text, "\xe2\x82" + text, "\xf0\x9f\x93" + text}) {
        const auto escaped = log_escaped(input);
        if (!holds_no_control(escaped) || unescaped(escaped) != input) {
          FAIL("bytes " << first << " " << second << " escaped as " << escaped);
        }
      }
    }
  }
}
