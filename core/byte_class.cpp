#include "core/byte_class.h"

#include <cstdint>
#include <cstring>

namespace callproxy {
namespace {

using Bytes = unsigned char __attribute__((vector_size(16)));
constexpr std::size_t width = sizeof(Bytes);

Bytes load(const char* p) noexcept {
  Bytes v;
  std::memcpy(&v, p, width);
  return v;
}

Bytes splat(unsigned char c) noexcept { return Bytes{} + c; }

// A comparison's lanes are all ones or all zeros; true when every lane is all ones.
template <class Mask>
bool all_lanes(Mask mask) noexcept {
  std::uint64_t half[2];
  std::memcpy(half, &mask, sizeof half);
  return (half[0] & half[1]) == ~std::uint64_t{0};
}

bool base64_byte(unsigned char c) noexcept {
  return static_cast<unsigned char>(c - 'A') < 26 || static_cast<unsigned char>(c - 'a') < 26 ||
         static_cast<unsigned char>(c - '0') < 10 || c == '+' || c == '/';
}

// Applies `lanes` to each whole 16 bytes and `byte` to the rest.
template <class Lanes, class Byte>
bool every_byte(std::string_view text, Lanes lanes, Byte byte) noexcept {
  const char* p = text.data();
  std::size_t n = text.size();
  // No branch per block: the blocks' verdicts are combined and read once (a hostile string costs
  // no more than a valid one of its length, and both are bounded by the message size).
  using Mask = decltype(lanes(Bytes{}));
  Mask verdict = Mask{} - 1;  // every lane all ones: true
  for (; n >= width; p += width, n -= width) verdict &= lanes(load(p));
  if (!all_lanes(verdict)) return false;
  for (; n > 0; ++p, --n) {
    if (!byte(static_cast<unsigned char>(*p))) return false;
  }
  return true;
}

}  // namespace

bool is_base64_alphabet(std::string_view text) noexcept {
  return every_byte(
      text,
      [](Bytes v) {
        return ((v - splat('A')) < splat(26)) | ((v - splat('a')) < splat(26)) | ((v - splat('0')) < splat(10)) |
               (v == splat('+')) | (v == splat('/'));
      },
      base64_byte);
}

bool is_json_plain(std::string_view text) noexcept {
  return every_byte(
      text, [](Bytes v) { return ((v - splat(0x20)) < splat(0x5F)) & (v != splat('"')) & (v != splat('\\')); },
      is_json_plain_byte);
}

}  // namespace callproxy
