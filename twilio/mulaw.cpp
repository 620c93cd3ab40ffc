// G.711 mu-law tables, built at compile time from the segment definition in G.711.
#include "twilio/mulaw.h"

#include <algorithm>
#include <array>
#include <cassert>

namespace callproxy::twilio {
namespace {

constexpr int bias = 0x84;  // 132: the mu-law bias in 16-bit units (33 in 14-bit units)

constexpr std::int16_t decode_one(std::uint8_t code) {
  const int u = ~code & 0xFF;
  int t = ((u & 0x0F) << 3) + bias;
  t <<= (u & 0x70) >> 4;
  return static_cast<std::int16_t>((u & 0x80) ? (bias - t) : (t - bias));
}

// Encodes a 14-bit magnitude-and-sign sample, exactly as G.711's reference code.
constexpr std::uint8_t encode14(int sample14) {
  constexpr std::array<int, 8> segment_end{0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF};
  int mask = 0xFF;
  if (sample14 < 0) {
    sample14 = -sample14;
    mask = 0x7F;
  }
  if (sample14 > 8159) sample14 = 8159;  // clip
  sample14 += bias >> 2;
  int segment = 0;
  while (segment < 8 && sample14 > segment_end[segment]) ++segment;
  if (segment >= 8) return static_cast<std::uint8_t>(0x7F ^ mask);
  const int uval = (segment << 4) | ((sample14 >> (segment + 1)) & 0x0F);
  return static_cast<std::uint8_t>(uval ^ mask);
}

constexpr auto decode_table = [] {
  std::array<std::int16_t, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = decode_one(static_cast<std::uint8_t>(c));
  return table;
}();

// Indexed by the 14-bit sample offset to be non-negative: 16 KiB.
constexpr auto encode_table = [] {
  std::array<std::uint8_t, 16384> table{};
  for (int s = -8192; s < 8192; ++s) table[s + 8192] = encode14(s);
  return table;
}();

}  // namespace

std::int16_t mulaw_decode(std::uint8_t code) { return decode_table[code]; }

namespace {
// sox reduces a 16-bit sample to 14 bits by rounding to nearest (SOX_SAMPLE_TO_SIGNED),
// clipping the one value that would overflow.
inline std::size_t encode_index(std::int16_t sample) {
  const int s14 = std::min((sample + 2) >> 2, 8191);
  const int index = s14 + 8192;  // 0..16383
  return static_cast<std::size_t>(index);
}
}  // namespace

std::uint8_t mulaw_encode(std::int16_t sample) { return encode_table[encode_index(sample)]; }

void mulaw_decode(std::span<const std::uint8_t> in, std::span<std::int16_t> out) {
  assert(out.size() >= in.size());
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = decode_table[in[i]];
}

void mulaw_encode(std::span<const std::int16_t> in, std::span<std::uint8_t> out) {
  assert(out.size() >= in.size());
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = encode_table[encode_index(in[i])];
}

}  // namespace callproxy::twilio
