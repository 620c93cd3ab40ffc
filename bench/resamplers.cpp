// Which resampler serve uses for the audio shapes (audio/shape_converter.h), measured rather than
// assumed: the three packaged on Debian (speexdsp, soxr, libsamplerate) at the settings a
// real-time path would use, and going up, serve's own polyphase filter (audio/upsampler.h), each run as serve runs it:
// one stateful converter per call and direction, fed 20 ms frames of 16-bit PCM.
//   - CPU: this thread's CPU time per 20 ms frame (over 60 s of audio, the best of 5 runs);
//   - quality: the telephone band (300-3400 Hz) tones through it, each fitted with a sinusoid of
//     its own frequency (least squares, so the converter's delay does not matter); SNR is the
//     fitted tone's power over what is left (noise, distortion, aliases). The worst tone counts;
//   - going down (24 kHz, 16 kHz -> 8 kHz): how much of a 5 kHz and a 9 kHz tone (above the new
//     Nyquist) survives as an alias, in dB below the input (the anti-aliasing filter's work);
//   - latency: the audio the converter holds back, in ms (what it adds to the call's path).
//
//   resamplers [--seconds N]        prints one JSON line per converter and direction
#include <samplerate.h>
#include <soxr.h>
#include <speex/speex_resampler.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "audio/upsampler.h"

// Allocations while converting (serve's media path makes none per frame in steady state): every
// malloc of the process is counted, the libraries' own included.
extern "C" void* __libc_malloc(std::size_t);
static std::size_t mallocs = 0;
extern "C" void* malloc(std::size_t size) {
  ++mallocs;
  return __libc_malloc(size);
}

namespace {

constexpr double pi = 3.14159265358979323846;

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// One streaming converter: 16-bit samples in, 16-bit samples out, state kept between calls.
struct Converter {
  std::string name;
  // Appends what `in` gives to `out`.
  std::function<void(const std::int16_t* in, std::size_t n, std::vector<std::int16_t>& out)> process;
};

using Factory = std::function<Converter(int in_rate, int out_rate)>;

Factory speex(int quality) {
  return [quality](int in_rate, int out_rate) {
    int error = 0;
    auto* st = speex_resampler_init(1, static_cast<spx_uint32_t>(in_rate), static_cast<spx_uint32_t>(out_rate), quality,
                                    &error);
    if (!st) throw std::runtime_error("speex_resampler_init failed");
    speex_resampler_skip_zeros(st);
    std::shared_ptr<SpeexResamplerState> state(st, speex_resampler_destroy);
    return Converter{"speexdsp q" + std::to_string(quality),
                     [state](const std::int16_t* in, std::size_t n, std::vector<std::int16_t>& out) {
                       std::int16_t buffer[2048];
                       auto in_len = static_cast<spx_uint32_t>(n);
                       spx_uint32_t out_len = 2048;
                       speex_resampler_process_int(state.get(), 0, in, &in_len, buffer, &out_len);
                       out.insert(out.end(), buffer, buffer + out_len);
                     }};
  };
}

Factory soxr_at(unsigned long recipe, const char* label) {
  return [recipe, label](int in_rate, int out_rate) {
    soxr_error_t error = nullptr;
    const auto io = soxr_io_spec(SOXR_INT16_I, SOXR_INT16_I);
    const auto quality = soxr_quality_spec(recipe, 0);
    auto* s = soxr_create(in_rate, out_rate, 1, &error, &io, &quality, nullptr);
    if (!s || error) throw std::runtime_error("soxr_create failed");
    std::shared_ptr<struct soxr> state(s, soxr_delete);
    return Converter{std::string("soxr ") + label,
                     [state](const std::int16_t* in, std::size_t n, std::vector<std::int16_t>& out) {
                       std::int16_t buffer[2048];
                       std::size_t done_in = 0, done_out = 0;
                       soxr_process(state.get(), in, n, &done_in, buffer, 2048, &done_out);
                       out.insert(out.end(), buffer, buffer + done_out);
                     }};
  };
}

Factory libsamplerate(int type, const char* label) {
  return [type, label](int in_rate, int out_rate) {
    int error = 0;
    auto* s = src_new(type, 1, &error);
    if (!s) throw std::runtime_error("src_new failed");
    std::shared_ptr<SRC_STATE> state(s, src_delete);
    const double ratio = static_cast<double>(out_rate) / in_rate;
    return Converter{std::string("libsamplerate ") + label,
                     [state, ratio](const std::int16_t* in, std::size_t n, std::vector<std::int16_t>& out) {
                       float fin[2048], fout[2048];
                       src_short_to_float_array(in, fin, static_cast<int>(n));
                       SRC_DATA d{};
                       d.data_in = fin;
                       d.input_frames = static_cast<long>(n);
                       d.data_out = fout;
                       d.output_frames = 2048;
                       d.src_ratio = ratio;
                       src_process(state.get(), &d);
                       std::int16_t buffer[2048];
                       src_float_to_short_array(fout, buffer, static_cast<int>(d.output_frames_gen));
                       out.insert(out.end(), buffer, buffer + d.output_frames_gen);
                     }};
  };
}

// serve's own, going up by 2 or 3 (audio/upsampler.h).
Factory polyphase() {
  return [](int in_rate, int out_rate) {
    auto up = std::make_shared<callproxy::audio::Upsampler>(out_rate / in_rate);
    return Converter{"callproxy polyphase",
                     [up](const std::int16_t* in, std::size_t n, std::vector<std::int16_t>& out) {
                       up->process(std::span<const std::int16_t>(in, n), out);
                     }};
  };
}

std::vector<std::int16_t> tone(double hz, int rate, double seconds, double amplitude = 0.5) {
  std::vector<std::int16_t> s(static_cast<std::size_t>(rate * seconds));
  for (std::size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<std::int16_t>(std::lround(amplitude * 32767.0 * std::sin(2 * pi * hz * i / rate)));
  }
  return s;
}

std::vector<std::int16_t> run(Converter c, const std::vector<std::int16_t>& in, int in_rate) {
  std::vector<std::int16_t> out;
  const std::size_t frame = static_cast<std::size_t>(in_rate / 50);
  for (std::size_t at = 0; at + frame <= in.size(); at += frame) c.process(in.data() + at, frame, out);
  return out;
}

// Power of `s` (from `skip` on) after the best-fitting sinusoid at `hz` is taken out, and the
// fitted sinusoid's own power.
std::pair<double, double> fit(const std::vector<std::int16_t>& s, double hz, int rate, std::size_t skip) {
  double ss = 0, sc = 0, cc = 0, ys = 0, yc = 0;
  for (std::size_t i = skip; i < s.size(); ++i) {
    const double a = 2 * pi * hz * i / rate, si = std::sin(a), co = std::cos(a);
    ss += si * si, sc += si * co, cc += co * co, ys += s[i] * si, yc += s[i] * co;
  }
  const double det = ss * cc - sc * sc;
  const double a = (ys * cc - yc * sc) / det, b = (yc * ss - ys * sc) / det;
  double residual = 0, signal = 0;
  for (std::size_t i = skip; i < s.size(); ++i) {
    const double t = 2 * pi * hz * i / rate, model = a * std::sin(t) + b * std::cos(t);
    residual += (s[i] - model) * (s[i] - model);
    signal += model * model;
  }
  return {residual, signal};
}

double power(const std::vector<std::int16_t>& s, std::size_t skip) {
  double p = 0;
  for (std::size_t i = skip; i < s.size(); ++i) p += static_cast<double>(s[i]) * s[i];
  return p / static_cast<double>(s.size() - skip);
}

void measure(const Factory& factory, int in_rate, int out_rate, double seconds) {
  // CPU: a speech-like load (the sum of three band tones), 20 ms frames, best of 5.
  auto load = tone(440, in_rate, seconds, 0.2);
  const auto t2 = tone(1300, in_rate, seconds, 0.2), t3 = tone(2900, in_rate, seconds, 0.2);
  for (std::size_t i = 0; i < load.size(); ++i) load[i] = static_cast<std::int16_t>(load[i] + t2[i] + t3[i]);
  double best = 1e9;
  std::string name;
  std::size_t steady_mallocs = 0;
  for (int round = 0; round < 5; ++round) {
    auto c = factory(in_rate, out_rate);
    name = c.name;
    std::vector<std::int16_t> out;
    out.reserve(load.size() * static_cast<std::size_t>(out_rate) / static_cast<std::size_t>(in_rate) + 4096);
    const std::size_t frame = static_cast<std::size_t>(in_rate / 50);
    c.process(load.data(), frame, out);  // the first frame may set up what the converter keeps
    const auto mallocs_before = mallocs;
    const double t0 = thread_cpu_seconds();
    for (std::size_t at = frame; at + frame <= load.size(); at += frame) c.process(load.data() + at, frame, out);
    best = std::min(best, thread_cpu_seconds() - t0);
    steady_mallocs = mallocs - mallocs_before;
    if (out.empty()) throw std::runtime_error("no output");
  }
  const double frames = seconds * 50;

  // Quality in the telephone band: the worst tone.
  double worst_snr = 1e9;
  for (const double hz : {300.0, 1000.0, 2000.0, 3000.0, 3400.0}) {
    const auto out = run(factory(in_rate, out_rate), tone(hz, in_rate, 2.0), in_rate);
    const auto [residual, signal] = fit(out, hz, out_rate, static_cast<std::size_t>(out_rate / 10));
    worst_snr = std::min(worst_snr, 10 * std::log10(signal / residual));
  }
  // Going down: what is left of tones the new rate cannot carry.
  double alias_db = -1e9;  // no tone above the new Nyquist when going up: printed as null
  if (out_rate < in_rate) {
    for (const double hz : {5000.0, 9000.0}) {
      if (hz >= in_rate / 2.0) continue;
      const auto in = tone(hz, in_rate, 2.0);
      const auto out = run(factory(in_rate, out_rate), in, in_rate);
      // Nothing at all left: below 16-bit PCM's floor (-98 dB), written as -120.
      alias_db = std::max({alias_db, -120.0, 10 * std::log10(power(out, out_rate / 10) / power(in, in_rate / 10))});
    }
  }
  // Latency: what the converter holds back, in ms of audio: after 1 s fed in 20 ms frames, the
  // audio that went in minus what came out (a stream converter gives late what it keeps).
  std::vector<std::int16_t> second;
  run(factory(in_rate, out_rate), tone(1000, in_rate, 1.0), in_rate).swap(second);
  const double latency_ms = (1.0 - static_cast<double>(second.size()) / out_rate) * 1000;

  char alias[32] = "null";
  if (alias_db > -1e9) std::snprintf(alias, sizeof alias, "%.1f", alias_db);
  std::printf("{\"converter\":\"%s\",\"from\":%d,\"to\":%d,\"cpu_us_per_frame\":%.3f,\"band_snr_db\":%.1f,"
              "\"alias_db\":%s,\"latency_ms\":%.2f,\"mallocs_per_frame\":%.2f}\n",
              name.c_str(), in_rate, out_rate, best / frames * 1e6, worst_snr, alias, latency_ms,
              static_cast<double>(steady_mallocs) / (frames - 1));
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 60;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: resamplers [--seconds N]\n");
      return 2;
    }
  }
  const std::vector<Factory> factories{speex(0),
                                       speex(1),
                                       speex(2),
                                       speex(3),
                                       speex(5),
                                       speex(7),
                                       soxr_at(SOXR_QQ, "QQ"),
                                       soxr_at(SOXR_LQ, "LQ"),
                                       soxr_at(SOXR_MQ, "MQ"),
                                       soxr_at(SOXR_HQ, "HQ"),
                                       libsamplerate(SRC_SINC_FASTEST, "SINC_FASTEST"),
                                       libsamplerate(SRC_SINC_MEDIUM_QUALITY, "SINC_MEDIUM"),
                                       libsamplerate(SRC_LINEAR, "LINEAR")};
  const std::pair<int, int> directions[] = {{8000, 16000}, {8000, 24000}, {16000, 8000}, {24000, 8000}};
  try {
    for (const auto& [from, to] : directions) {
      if (to > from && to % from == 0) measure(polyphase(), from, to, seconds);
      for (const auto& f : factories) measure(f, from, to, seconds);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "resamplers: %s\n", e.what());
    return 1;
  }
}
