#include "proxy/callers/caller_id.h"

#include <cstdint>
#include <utility>

namespace callproxy::proxy {
namespace {

// One UTF-8 sequence at the front of `text`: its code point and length. A byte that does not
// start a valid sequence is returned as itself with length 1 (it is then "anything else").
std::pair<char32_t, std::size_t> next_code_point(std::string_view text) {
  const auto b0 = static_cast<unsigned char>(text[0]);
  const auto cont = [&](std::size_t i) {
    return i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80;
  };
  const auto bits = [&](std::size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(text[i]) & 0x3F); };
  if (b0 < 0x80) return {b0, 1};
  if ((b0 & 0xE0) == 0xC0 && cont(1)) return {(static_cast<char32_t>(b0 & 0x1F) << 6) | bits(1), 2};
  if ((b0 & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    return {(static_cast<char32_t>(b0 & 0x0F) << 12) | (bits(1) << 6) | bits(2), 3};
  }
  if ((b0 & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
    return {(static_cast<char32_t>(b0 & 0x07) << 18) | (bits(1) << 12) | (bits(2) << 6) | bits(3), 4};
  }
  return {b0, 1};
}

// What String.prototype.trim removes.
bool is_space(char32_t c) {
  return c == 0x20 || (c >= 0x09 && c <= 0x0D) || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

// A digit as written in ASCII or fullwidth (U+FF10..U+FF19), else -1.
int digit_value(char32_t c) {
  if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
  if (c >= 0xFF10 && c <= 0xFF19) return static_cast<int>(c - 0xFF10);
  return -1;
}

bool is_plus(char32_t c) { return c == '+' || c == 0xFF0B; }

// Punctuation people and address books put in phone numbers.
bool is_separator(char32_t c) {
  return is_space(c) || c == '-' || c == '.' || c == '(' || c == ')' || (c >= 0x2010 && c <= 0x2015) || c == 0x2212 ||
         c == 0xFF08 || c == 0xFF09 || c == 0xFF0D || c == 0xFF0E;
}

std::string_view trim(std::string_view text) {
  while (!text.empty()) {
    const auto [c, n] = next_code_point(text);
    if (!is_space(c)) break;
    text.remove_prefix(n);
  }
  // From the back: step over continuation bytes to the start of the last sequence.
  while (!text.empty()) {
    std::size_t start = text.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80 && text.size() - start < 4) --start;
    const auto [c, n] = next_code_point(text.substr(start));
    if (start + n != text.size() || !is_space(c)) break;
    text.remove_suffix(n);
  }
  return text;
}

}  // namespace

std::string canonical_caller_id(std::string_view raw) {
  const auto id = trim(raw);
  std::string digits;
  bool first = true;
  for (std::string_view rest = id; !rest.empty(); first = false) {
    const auto [c, n] = next_code_point(rest);
    rest.remove_prefix(n);
    if (const int d = digit_value(c); d >= 0) {
      digits += static_cast<char>('0' + d);
    } else if (!(is_plus(c) && first) && !is_separator(c)) {
      return std::string(id);  // not a phone number: kept as sent
    }
  }
  if (digits.empty()) return std::string(id);
  return "+" + digits;
}

}  // namespace callproxy::proxy
