// The vectorised byte-class checks against their one-byte definitions: every byte value, at every
// position of strings long enough to cover whole 16-byte blocks and tails.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "core/byte_class.h"

namespace {

bool base64_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}
bool plain_char(unsigned char c) { return c >= 0x20 && c <= 0x7E && c != '"' && c != '\\'; }

}  // namespace

TEST_CASE("byte classes agree with their definitions for every byte at every position") {
  for (const std::size_t length : {1U, 7U, 15U, 16U, 17U, 31U, 32U, 33U, 48U, 216U}) {
    for (std::size_t position = 0; position < length; ++position) {
      for (int value = 0; value < 256; ++value) {
        const auto c = static_cast<unsigned char>(value);
        std::string base64(length, 'Q');
        base64[position] = static_cast<char>(c);
        std::string plain(length, 'x');
        plain[position] = static_cast<char>(c);
        if (callproxy::is_base64_alphabet(base64) != base64_char(c)) {
          FAIL("is_base64_alphabet: length " << length << ", byte " << value << " at " << position);
        }
        if (callproxy::is_json_plain(plain) != plain_char(c)) {
          FAIL("is_json_plain: length " << length << ", byte " << value << " at " << position);
        }
      }
    }
  }
  CHECK(callproxy::is_base64_alphabet(""));
  CHECK(callproxy::is_json_plain(""));
  CHECK(callproxy::is_base64_alphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"));
  CHECK_FALSE(callproxy::is_base64_alphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="));
}
