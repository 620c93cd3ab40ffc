// base64 with our own table coders (RFC 4648, padded, strict): the media path encodes and decodes
// a frame's payload per backend shape and per message, and OpenSSL's block coder (which also
// accepts whitespace and reports padding as decoded zero bytes, so it needed a validation pass of
// its own) cost ~3x more per frame (callgrind, bench/README.md "Audio shapes").
//
// Encoding takes 12 bits at a time from a table of character pairs; decoding looks each of four
// characters up in a table of its bits already in place, an invalid character setting a bit no
// valid one sets, checked once per message.
#include "twilio/base64.h"

#include <array>
#include <bit>
#include <cstring>

namespace callproxy::twilio {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// pairs[v] for a 12-bit value v: its two characters.
constexpr auto make_pairs() {
  std::array<std::array<char, 2>, 4096> pairs{};
  for (std::size_t v = 0; v < pairs.size(); ++v) pairs[v] = {alphabet[v >> 6], alphabet[v & 63]};
  return pairs;
}
constexpr auto pairs = make_pairs();

constexpr std::uint32_t invalid = 0x01000000;  // above the 24 bits four characters make

// decode[i][c]: character c in position i (0-3) of a group, as its 6 bits shifted to their place
// in the group's 24 (big-endian: the first character is the top 6), or `invalid`.
constexpr auto make_decode() {
  std::array<std::array<std::uint32_t, 256>, 4> table{};
  for (auto& t : table) t.fill(invalid);
  for (std::uint32_t v = 0; v < 64; ++v) {
    const auto c = static_cast<unsigned char>(alphabet[v]);
    for (int i = 0; i < 4; ++i) table[static_cast<std::size_t>(i)][c] = v << (18 - 6 * i);
  }
  return table;
}
constexpr auto decode = make_decode();

}  // namespace

void base64_append(std::string& out, std::span<const std::uint8_t> bytes) {
  const auto start = out.size();
  out.resize(start + 4 * ((bytes.size() + 2) / 3));
  char* o = out.data() + start;
  const std::uint8_t* in = bytes.data();
  std::size_t left = bytes.size();
  // Six bytes at a time from one 8-byte load (so 8 must be there to read): four pairs, one store.
  for (; left >= 8; left -= 6, in += 6, o += 8) {
    std::uint64_t x;
    std::memcpy(&x, in, 8);
    if constexpr (std::endian::native == std::endian::little) x = __builtin_bswap64(x);
    std::uint16_t p[4];
    std::memcpy(&p[0], pairs[(x >> 52) & 0xFFF].data(), 2);
    std::memcpy(&p[1], pairs[(x >> 40) & 0xFFF].data(), 2);
    std::memcpy(&p[2], pairs[(x >> 28) & 0xFFF].data(), 2);
    std::memcpy(&p[3], pairs[(x >> 16) & 0xFFF].data(), 2);
    std::memcpy(o, p, 8);
  }
  for (; left >= 3; left -= 3, in += 3, o += 4) {
    const std::uint32_t group = (std::uint32_t{in[0]} << 16) | (std::uint32_t{in[1]} << 8) | in[2];
    std::memcpy(o, pairs[group >> 12].data(), 2);
    std::memcpy(o + 2, pairs[group & 0xFFF].data(), 2);
  }
  if (left > 0) {
    const std::uint32_t group = (std::uint32_t{in[0]} << 16) | (left == 2 ? std::uint32_t{in[1]} << 8 : 0);
    std::memcpy(o, pairs[group >> 12].data(), 2);
    o[2] = left == 2 ? pairs[group & 0xFFF][0] : '=';
    o[3] = '=';
  }
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  base64_append(out, bytes);
  return out;
}

bool base64_decode_into(std::string_view text, std::vector<std::uint8_t>& out) {
  out.clear();
  if (text.size() % 4 != 0) return false;
  if (text.empty()) return true;
  std::size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text[text.size() - 2] == '=') ++padding;
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t groups = text.size() / 4;
  out.resize(groups * 3);
  std::uint8_t* o = out.data();
  std::uint32_t bad = 0;
  // Every group but the last: four characters of the alphabet ('=' or anything else is invalid).
  for (std::size_t g = 0; g + 1 < groups; ++g, in += 4, o += 3) {
    const std::uint32_t v = decode[0][in[0]] | decode[1][in[1]] | decode[2][in[2]] | decode[3][in[3]];
    bad |= v;
    o[0] = static_cast<std::uint8_t>(v >> 16);
    o[1] = static_cast<std::uint8_t>(v >> 8);
    o[2] = static_cast<std::uint8_t>(v);
  }
  // The last: its padding stands for zero bits ('=' anywhere else is invalid). Stray bits below
  // the last byte ("QR==") are dropped, as OpenSSL's coder did; the media path's own scan
  // (twilio/media_scan.h) is what insists on canonical payloads.
  const std::uint32_t v = decode[0][in[0]] | decode[1][in[1]] | (padding >= 2 ? 0 : decode[2][in[2]]) |
                          (padding >= 1 ? 0 : decode[3][in[3]]);
  bad |= v;
  if (bad & invalid) return false;
  o[0] = static_cast<std::uint8_t>(v >> 16);
  o[1] = static_cast<std::uint8_t>(v >> 8);
  o[2] = static_cast<std::uint8_t>(v);
  out.resize(out.size() - padding);
  return true;
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  std::vector<std::uint8_t> out;
  if (!base64_decode_into(text, out)) return std::nullopt;
  return out;
}

}  // namespace callproxy::twilio
