// Audio compared with a reference, for the audio shapes' tests: test signals, libsamplerate's
// best sinc converter as the reference conversion (an implementation independent of serve's
// speexdsp), and an SNR with the lag at which two signals agree best. Header-only.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <complex>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "twilio/audio_file.h"
#include "twilio/audio_libraries.h"
#include "twilio/mulaw.h"

namespace callproxy::test {

inline constexpr double pi = 3.14159265358979323846;

// A logarithmic sweep over the telephone band (300-3400 Hz), plus `extra_hz` (0: none) at a
// quarter of the level: a tone a lower rate cannot carry, which a converter must filter out.
inline std::vector<float> sweep(int rate, double seconds, double extra_hz = 0) {
  std::vector<float> s(static_cast<std::size_t>(rate * seconds));
  const double f0 = 300, f1 = 3400, k = std::log(f1 / f0) / seconds;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const double t = static_cast<double>(i) / rate;
    double v = 0.5 * std::sin(2 * pi * f0 * (std::exp(k * t) - 1) / k);
    if (extra_hz > 0) v += 0.125 * std::sin(2 * pi * extra_hz * t);
    s[i] = static_cast<float>(v);
  }
  return s;
}

inline std::vector<std::int16_t> to_pcm(const std::vector<float>& s) {
  std::vector<std::int16_t> out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = static_cast<std::int16_t>(std::lround(s[i] * 32767.0));
  return out;
}

inline std::vector<float> reference_resample(const std::vector<float>& in, int from, int to) {
  const auto* src = twilio::samplerate().value();
  std::vector<float> out(in.size() * static_cast<std::size_t>(to) / static_cast<std::size_t>(from) + 64);
  SRC_DATA d{};
  d.data_in = in.data();
  d.input_frames = static_cast<long>(in.size());
  d.data_out = out.data();
  d.output_frames = static_cast<long>(out.size());
  d.src_ratio = static_cast<double>(to) / from;
  REQUIRE(src->simple(&d, SRC_SINC_BEST_QUALITY, 1) == 0);
  out.resize(static_cast<std::size_t>(d.output_frames_gen));
  return out;
}

// The SNR (dB) of `got` against `reference` (both in 16-bit units) over their common part, a
// tenth of a second in from each end (where filters start and stop), with `got` shifted by
// `lag` samples.
inline double snr_db(const std::vector<std::int16_t>& got, const std::vector<float>& reference, int rate, int lag = 0) {
  const auto edge = static_cast<std::size_t>(rate / 10);
  const auto n = std::min(got.size(), reference.size());
  double signal = 0, noise = 0;
  for (std::size_t i = edge; i + edge < n; ++i) {
    const auto j = static_cast<std::ptrdiff_t>(i) + lag;
    if (j < 0 || static_cast<std::size_t>(j) >= got.size()) continue;
    const double r = reference[i] * 32767.0;
    const double e = got[static_cast<std::size_t>(j)] - r;
    signal += r * r;
    noise += e * e;
  }
  return 10 * std::log10(signal / noise);
}

// In-place radix-2 FFT (size a power of two).
inline void fft(std::vector<std::complex<double>>& a) {
  const std::size_t n = a.size();
  for (std::size_t i = 1, j = 0; i < n; ++i) {
    std::size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (std::size_t len = 2; len <= n; len <<= 1) {
    const auto w = std::polar(1.0, -2 * pi / static_cast<double>(len));
    for (std::size_t i = 0; i < n; i += len) {
      std::complex<double> wk(1);
      for (std::size_t k = 0; k < len / 2; ++k, wk *= w) {
        const auto u = a[i + k], v = a[i + k + len / 2] * wk;
        a[i + k] = u + v;
        a[i + k + len / 2] = u - v;
      }
    }
  }
}

// The SNR (dB) of `got` against `reference` over the telephone band (300-3400 Hz) only: what
// either side has above it (a converter's roll-off near 4 kHz, which a phone never carries) does
// not count. Hann-windowed blocks of 4096 samples, a tenth of a second in from each end.
inline double band_snr_db(const std::vector<std::int16_t>& got, const std::vector<float>& reference, int rate,
                          double low_hz = 300, double high_hz = 3400) {
  constexpr std::size_t block = 4096;
  const auto edge = static_cast<std::size_t>(rate / 10);
  const auto n = std::min(got.size(), reference.size());
  double signal = 0, noise = 0;
  std::vector<std::complex<double>> r(block), e(block);
  for (std::size_t at = edge; at + block + edge <= n; at += block / 2) {
    for (std::size_t i = 0; i < block; ++i) {
      const double w = 0.5 - 0.5 * std::cos(2 * pi * static_cast<double>(i) / block);
      const double ref = reference[at + i] * 32767.0;
      r[i] = w * ref;
      e[i] = w * (got[at + i] - ref);
    }
    fft(r);
    fft(e);
    for (std::size_t k = 0; k < block / 2; ++k) {
      const double hz = static_cast<double>(k) * rate / block;
      if (hz < low_hz || hz > high_hz) continue;
      signal += std::norm(r[k]);
      noise += std::norm(e[k]);
    }
  }
  return 10 * std::log10(signal / noise);
}

// The lag (in samples, within ±8) at which `got` agrees best with `reference`.
inline int best_lag(const std::vector<std::int16_t>& got, const std::vector<float>& reference, int rate) {
  int best = 0;
  double best_snr = -1e9;
  for (int lag = -8; lag <= 8; ++lag) {
    const auto snr = snr_db(got, reference, rate, lag);
    if (snr > best_snr) best_snr = snr, best = lag;
  }
  return best;
}

inline std::vector<std::int16_t> from_le_bytes(std::span<const std::uint8_t> bytes) {
  std::vector<std::int16_t> out(bytes.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::int16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
  }
  return out;
}

inline std::vector<std::int16_t> mulaw_to_pcm(std::span<const std::uint8_t> codes) {
  std::vector<std::int16_t> out(codes.size());
  twilio::mulaw_decode(codes, out);
  return out;
}

// What a perfect conversion of Twilio's 8 kHz mu-law to `rate` gives: the codes decoded, then
// the reference converter (nothing at 8 kHz).
inline std::vector<float> mulaw_reference(std::span<const std::uint8_t> mulaw, int rate) {
  const auto decoded = mulaw_to_pcm(mulaw);
  std::vector<float> out(decoded.size());
  for (std::size_t i = 0; i < decoded.size(); ++i) out[i] = static_cast<float>(decoded[i] / 32767.0);
  return rate == 8000 ? out : reference_resample(out, 8000, rate);
}

// Where `sent` begins in `got` (0..max_offset samples in), by correlation over its first second.
inline std::size_t find_offset(const std::vector<std::int16_t>& got, const std::vector<std::int16_t>& sent,
                               std::size_t max_offset) {
  const std::size_t window = std::min<std::size_t>(8000, sent.size());
  std::size_t best = 0;
  double best_score = -1e300;
  for (std::size_t offset = 0; offset <= max_offset && offset + window <= got.size(); ++offset) {
    double score = 0;
    for (std::size_t i = 0; i < window; ++i) score += static_cast<double>(got[offset + i]) * sent[i];
    if (score > best_score) best_score = score, best = offset;
  }
  return best;
}

// 16-bit little-endian bytes of `samples`.
inline std::vector<std::uint8_t> le_bytes(const std::vector<std::int16_t>& samples) {
  std::vector<std::uint8_t> bytes(samples.size() * 2);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    bytes[2 * i] = static_cast<std::uint8_t>(static_cast<std::uint16_t>(samples[i]) & 0xFF);
    bytes[2 * i + 1] = static_cast<std::uint8_t>(static_cast<std::uint16_t>(samples[i]) >> 8);
  }
  return bytes;
}

// The sample call as Twilio sends it: 8 kHz mu-law, whole 160-byte frames (client-test pads the
// last one with silence).
inline std::vector<std::uint8_t> sample_call_mulaw() {
  auto audio = twilio::read_call_audio(std::string(CALLPROXY_ASSETS) + "/sample-call-ulaw.wav");
  REQUIRE(audio.ok());
  auto bytes = std::move(audio.value());
  bytes.resize(bytes.size() / 160 * 160);
  return bytes;
}

inline std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace callproxy::test
