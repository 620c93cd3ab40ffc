#include "support/null_audio.h"

#include <sndfile.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <optional>
#include <stdexcept>

#include <unistd.h>

#include "twilio/mulaw.h"

namespace callproxy::test {
namespace {

std::string script_path() { return std::string(CALLPROXY_SOURCE_DIR) + "/scripts/null-audio.sh"; }

struct Pcm {
  int rate = 0;
  std::vector<int> samples;
};

// Mono 16-bit PCM or mu-law WAV as linear samples; mu-law through our sox-exact decoder, so the
// reference is what the player was asked to play.
std::optional<Pcm> read_mono(const std::string& path, std::string& why) {
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  if (!file) {
    why = path + ": " + sf_strerror(nullptr);
    return std::nullopt;
  }
  Pcm pcm;
  pcm.rate = info.samplerate;
  const auto subtype = info.format & SF_FORMAT_SUBMASK;
  if (info.channels != 1 || (subtype != SF_FORMAT_PCM_16 && subtype != SF_FORMAT_ULAW)) {
    why = path + ": expected mono 16-bit PCM or mu-law";
    sf_close(file);
    return std::nullopt;
  }
  if (subtype == SF_FORMAT_ULAW) {
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(info.frames));
    const auto got = sf_read_raw(file, codes.data(), static_cast<sf_count_t>(codes.size()));
    codes.resize(static_cast<std::size_t>(std::max<sf_count_t>(got, 0)));
    for (const auto code : codes) pcm.samples.push_back(twilio::mulaw_decode(code));
  } else {
    std::vector<short> samples(static_cast<std::size_t>(info.frames));
    const auto got = sf_readf_short(file, samples.data(), info.frames);
    samples.resize(static_cast<std::size_t>(std::max<sf_count_t>(got, 0)));
    pcm.samples.assign(samples.begin(), samples.end());
  }
  sf_close(file);
  return pcm;
}

bool close_enough(int a, int b) { return std::abs(a - b) <= 1; }

}  // namespace

NullAudio::NullAudio() {
  static std::atomic<int> counter{0};
  dir_ = "/tmp/callproxy-null-audio-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  const auto started = script({"start"});
  if (started.exit_code != 0) throw std::runtime_error("null-audio.sh start failed:\n" + started.out + started.err);
  // It prints: export PULSE_SERVER=... PULSE_COOKIE=...
  for (const std::string name : {"PULSE_SERVER", "PULSE_COOKIE"}) {
    const auto at = started.out.find(name + "=");
    if (at == std::string::npos) throw std::runtime_error("null-audio.sh printed no " + name);
    const auto begin = at + name.size() + 1;
    const auto end = started.out.find_first_of(" \n", begin);
    env_[name] = started.out.substr(begin, end - begin);
  }
  env_["NULL_AUDIO_DIR"] = dir_;
}

NullAudio::~NullAudio() {
  script({"stop"});
  run_command({"/bin/rm", "-rf", dir_});
}

CommandResult NullAudio::script(const std::vector<std::string>& args) const {
  std::vector<std::string> command{"/bin/bash", script_path()};
  command.insert(command.end(), args.begin(), args.end());
  return run_command(command, {{"NULL_AUDIO_DIR", dir_}});
}

void NullAudio::record_start(const std::string& wav_path) {
  const auto r = script({"rec-start", wav_path});
  if (r.exit_code != 0) throw std::runtime_error("null-audio.sh rec-start failed: " + r.err);
}

void NullAudio::record_stop() {
  const auto r = script({"rec-stop"});
  if (r.exit_code != 0) throw std::runtime_error("null-audio.sh rec-stop failed: " + r.err);
}

CaptureComparison compare_capture(const std::string& capture, const std::string& sent, int tail_ms,
                                  double min_fraction) {
  CaptureComparison result;
  const auto cap = read_mono(capture, result.report);
  if (!cap) return result;
  auto ref = read_mono(sent, result.report);
  if (!ref) return result;
  if (cap->rate != ref->rate) {
    result.report = "rates differ: capture " + std::to_string(cap->rate) + " Hz, sent " + std::to_string(ref->rate) +
                    " Hz";
    return result;
  }
  const auto tail = static_cast<std::size_t>(static_cast<long>(tail_ms) * ref->rate / 1000);
  ref->samples.resize(ref->samples.size() > tail ? ref->samples.size() - tail : 0);
  const auto& c = cap->samples;
  const auto& r = ref->samples;
  if (r.empty() || c.size() < r.size()) {
    result.report = "capture holds " + std::to_string(c.size()) + " samples, fewer than the " +
                    std::to_string(r.size()) + " sent";
    return result;
  }
  // Align on an anchor: the first loud stretch of what was sent (silence matches anywhere).
  constexpr std::size_t anchor_len = 400;
  std::size_t anchor = 0;
  while (anchor + anchor_len < r.size() && std::abs(r[anchor]) < 2000) ++anchor;
  anchor = std::min(anchor, r.size() - std::min(anchor_len, r.size()));
  const auto len = std::min(anchor_len, r.size() - anchor);
  std::size_t best_lag = 0, best_hits = 0;
  for (std::size_t lag = 0; lag + r.size() <= c.size(); ++lag) {
    std::size_t hits = 0;
    for (std::size_t i = 0; i < len; ++i) hits += close_enough(c[lag + anchor + i], r[anchor + i]);
    if (hits > best_hits) {
      best_hits = hits;
      best_lag = lag;
      if (hits == len) break;
    }
  }
  // Walk the rest at that offset. A player that underruns (its process starved of CPU) plays
  // silence and then goes on where it was: the rest of the audio comes later, whole. Such a gap
  // is followed (the offset moves on) when the capture is silent over it and the next stretch of
  // the sent audio matches after it; audio missing or changed is never skipped, only counted.
  constexpr std::size_t resume_len = 80;  // 10 ms that must match after a gap
  const auto max_gap = static_cast<std::size_t>(cap->rate) / 2;
  constexpr int silence = 8;  // what a starved player's silence may read as
  std::size_t lag = best_lag, same = 0, gaps = 0, gap_samples = 0, searches = 0;
  const auto matches_at = [&](std::size_t i, std::size_t at_lag) {
    const auto n = std::min(resume_len, r.size() - i);
    if (at_lag + i + n > c.size()) return false;
    for (std::size_t k = 0; k < n; ++k)
      if (!close_enough(c[at_lag + i + k], r[i + k])) return false;
    return true;
  };
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (lag + i >= c.size()) break;
    if (close_enough(c[lag + i], r[i])) {
      ++same;
      continue;
    }
    if (searches++ > 64) continue;  // a capture that differs throughout: no more searching
    // The gap grows one sample at a time and ends at the first sound: it is silent throughout.
    for (std::size_t gap = 1; gap <= max_gap && lag + i + gap < c.size(); ++gap) {
      if (std::abs(c[lag + i + gap - 1]) > silence) break;
      if (matches_at(i, lag + gap)) {
        lag += gap;
        ++gaps;
        gap_samples += gap;
        ++same;
        break;
      }
    }
  }
  const double fraction = static_cast<double>(same) / static_cast<double>(r.size());
  // At most a few short underruns (each reported); more is a player that cannot keep up.
  result.matches = fraction >= min_fraction && gaps <= 4 && gap_samples <= max_gap;
  result.report = capture + ": sent audio found at " + std::to_string(static_cast<double>(best_lag) / cap->rate) +
                  " s; " + std::to_string(same) + "/" + std::to_string(r.size()) + " samples match (" +
                  std::to_string(100 * fraction) + "%)";
  if (gaps > 0) {
    result.report += "; after " + std::to_string(gaps) + " gap(s) of silence (" +
                     std::to_string(1000.0 * static_cast<double>(gap_samples) / cap->rate) +
                     " ms in all: the player underran)";
  }
  return result;
}

}  // namespace callproxy::test
