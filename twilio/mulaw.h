// G.711 mu-law, bit-exact with ITU-T G.711 as sox implements it (sox_14linear2ulaw /
// sox_ulaw2linear16): the 16-bit sample is rounded to 14 bits before encoding, as sox does.
#pragma once

#include <cstdint>
#include <span>

namespace callproxy::twilio {

// One mu-law code to 16-bit linear PCM (range -32124..32124).
std::int16_t mulaw_decode(std::uint8_t code);

// One 16-bit linear PCM sample to a mu-law code.
std::uint8_t mulaw_encode(std::int16_t sample);

// Whole buffers; `out` must be at least as long as `in`.
void mulaw_decode(std::span<const std::uint8_t> in, std::span<std::int16_t> out);
void mulaw_encode(std::span<const std::int16_t> in, std::span<std::uint8_t> out);

// The code for digital silence (0xFF); what a jitter buffer fills gaps with.
inline constexpr std::uint8_t mulaw_silence = 0xFF;

}  // namespace callproxy::twilio
