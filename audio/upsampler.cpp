#include "audio/upsampler.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace callproxy::audio {

// The loops below are built twice, for x86-64-v3 (AVX2 and FMA: 8 samples at a time) and the
// baseline (SSE2: 4), the better one picked when the program loads (GCC's target_clones). The two
// may differ in the last bit of a sample (FMA rounds once).
// Not under AddressSanitizer: GCC's load-time choice (an ifunc resolver) runs before ASan is set up.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define CALLPROXY_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CALLPROXY_SIMD_CLONES
#endif

namespace {

constexpr double kaiser_beta = 7.0;

// The modified Bessel function of the first kind, order 0 (its series converges fast here).
double bessel_i0(double x) {
  double sum = 1.0, term = 1.0;
  for (int k = 1; k < 64; ++k) {
    term *= (x / (2.0 * k)) * (x / (2.0 * k));
    sum += term;
    if (term < 1e-14 * sum) break;
  }
  return sum;
}

// Rounded to nearest and saturated, without branches (so the loop vectorizes).
CALLPROXY_SIMD_CLONES
void to_samples(const float* __restrict in, std::size_t n, std::int16_t* __restrict out) {
  for (std::size_t i = 0; i < n; ++i) {
    const float v = std::min(std::max(in[i], -32768.0F), 32767.0F);
    out[i] = static_cast<std::int16_t>(static_cast<int>(v + (v >= 0.0F ? 0.5F : -0.5F)));
  }
}

// out[i * L + p] = phases[p * count + i]: the phases side by side, sample by sample.
template <std::size_t L>
CALLPROXY_SIMD_CLONES void interleave(const float* __restrict phases, std::size_t count, float* __restrict out) {
  for (std::size_t i = 0; i < count; ++i) {
    for (std::size_t p = 0; p < L; ++p) out[i * L + p] = phases[p * count + i];
  }
}

// acc[i] = sum over k of c[k] * x[i + k]: tap by tap across the frame, each inner loop a vector
// multiply-add.
CALLPROXY_SIMD_CLONES
void dot_across(const float* __restrict c, const float* __restrict x, float* __restrict acc, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) acc[i] = 0.0F;
  for (int k = 0; k < Upsampler::taps; ++k) {
    const float ck = c[k];
    const float* xk = x + k;
    for (std::size_t i = 0; i < count; ++i) acc[i] += ck * xk[i];
  }
}

CALLPROXY_SIMD_CLONES
void to_floats(const std::int16_t* __restrict in, std::size_t n, float* __restrict out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]);
}

}  // namespace

Upsampler::Upsampler(int factor) : factor_(factor) {
  if (factor != 2 && factor != 3) throw std::invalid_argument("the upsampler goes up by 2 or 3");
  // The whole filter, centred: h(m) = sinc(m / L) * kaiser(m / c), m = -c..c, c = (L * taps - 2) / 2
  // (31 for L = 2, 47 for L = 3). Output phase p from input n - 15 + k takes m = p - L * (k - 15).
  const double centre = (factor * taps - 2) / 2.0;
  const double window_norm = bessel_i0(kaiser_beta);
  for (int p = 1; p < factor; ++p) {
    double sum = 0;
    std::array<double, taps> h{};
    for (int k = 0; k < taps; ++k) {
      const double m = p - factor * (k - (lookahead - 1));
      const double x = m / factor;
      const double sinc = std::sin(M_PI * x) / (M_PI * x);  // m is never a multiple of L here
      const double r = m / centre;
      const double window = bessel_i0(kaiser_beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / window_norm;
      h[k] = sinc * window;
      sum += h[k];
    }
    // Each phase passes DC exactly, as phase 0 does: no tone at the old rate from a constant.
    for (int k = 0; k < taps; ++k) coefficients_[p - 1][k] = static_cast<float>(h[k] / sum);
  }
  // The call starts from silence: the samples before its first are zeros.
  work_.assign(lookahead - 1, 0.0F);
}

void Upsampler::process(std::span<const std::int16_t> in, std::vector<std::int16_t>& out) {
  const std::size_t kept = work_.size();
  work_.resize(kept + in.size());
  to_floats(in.data(), in.size(), work_.data() + kept);
  if (work_.size() < static_cast<std::size_t>(taps)) return;  // not enough yet to look ahead
  // Outputs for input n need n-15 .. n+16: work_[i .. i+31] for the i-th.
  const std::size_t count = work_.size() - (taps - 1);
  const auto factor = static_cast<std::size_t>(factor_);
  // Each phase over the whole frame (phase 0: the input itself), then interleaved, then rounded:
  // three plain loops the compiler vectorizes, where one sample at a time it would not.
  phase_.resize(count * factor);
  float* phases = phase_.data();
  const float* w = work_.data();
  std::copy(w + lookahead - 1, w + lookahead - 1 + count, phases);
  for (std::size_t p = 1; p < factor; ++p) dot_across(coefficients_[p - 1].data(), w, phases + p * count, count);
  mixed_.resize(count * factor);
  if (factor == 2) {
    interleave<2>(phases, count, mixed_.data());
  } else {
    interleave<3>(phases, count, mixed_.data());
  }
  const std::size_t base = out.size();
  out.resize(base + count * factor);
  to_samples(mixed_.data(), count * factor, out.data() + base);
  // Keep the last taps-1 samples for the next frame.
  std::copy(work_.end() - (taps - 1), work_.end(), work_.begin());
  work_.resize(taps - 1);
}

}  // namespace callproxy::audio
