// 8 kHz up to 16 or 24 kHz, the way every caller's audio goes to a pcm16@16000/24000 backend: a
// polyphase FIR written for this one job, which costs a fraction of a general resampler's.
//
// Why not speexdsp here (it still converts replies down: audio/shape_converter.h): going up by a
// whole factor L, a windowed-sinc filter whose zeros fall on every L-th tap is a Nyquist filter.
// Its phase 0 is the input itself, so only L-1 of every L output samples are computed, each a
// 32-tap dot product, and it is computed for a whole frame at once, tap by tap across the frame
// (loops the compiler turns into SIMD). speexdsp computes every output sample, one at a time,
// through its general fractional-ratio machinery. Measured (bench/resamplers, bench/README.md
// "Resamplers"): a third of speexdsp quality 3's CPU per frame; against libsamplerate's best over
// the telephone band, 85 dB on the sample call (speexdsp q3: 52) and 54 dB on a sweep to 4 kHz (57);
// 73-75 dB on single tones (86-88), all far above mu-law's own ~38 dB.
//
// The filter: 32 taps per phase (63 at 16 kHz, 95 at 24 kHz), a Kaiser window with beta 7, cut at
// 4 kHz: flat to within 0.003 dB up to 3.4 kHz, images from 4.65 kHz up down 70 dB or more. It looks 16
// input samples ahead (2 ms): that much of the input is held back until the next frame, and the
// output is aligned with the input (output sample i is input time i / rate, as from speexdsp with
// its delay skipped). No allocation per frame once the first frame has sized the buffers.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace callproxy::audio {

class Upsampler {
 public:
  static constexpr int taps = 32;
  static constexpr int lookahead = taps / 2;  // input samples held back

  // factor: 2 (8 -> 16 kHz) or 3 (8 -> 24 kHz); anything else throws std::invalid_argument.
  explicit Upsampler(int factor);

  // Appends to `out` the output for `in` (factor x in.size() samples once the first 16 input
  // samples have gone through).
  void process(std::span<const std::int16_t> in, std::vector<std::int16_t>& out);

  int factor() const { return factor_; }

 private:
  int factor_;
  // coefficients_[p - 1][k]: output phase p (1..factor-1) from input samples n-15+k, k = 0..31.
  std::array<std::array<float, taps>, 2> coefficients_{};
  std::vector<float> work_;   // the last taps-1 input samples, then the new ones
  std::vector<float> phase_;  // the frame's outputs, phase by phase
  std::vector<float> mixed_;  // the same, interleaved
};

}  // namespace callproxy::audio
