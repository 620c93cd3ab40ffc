// Whole-string byte-class checks for the media path, 16 bytes at a time (GCC/Clang vector
// extensions: SSE2 on x86-64, NEON on arm64, plain code elsewhere), the tail byte by byte.
#pragma once

#include <string_view>

namespace callproxy {

// Every byte is in base64's alphabet: A-Z a-z 0-9 + / ('=' is not: padding is checked apart).
bool is_base64_alphabet(std::string_view text) noexcept;

// Every byte is printable ASCII (0x20..0x7E) other than '"' and '\\': the text can stand between
// quotes in JSON as it is.
bool is_json_plain(std::string_view text) noexcept;
constexpr bool is_json_plain_byte(unsigned char c) noexcept { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; }

}  // namespace callproxy
