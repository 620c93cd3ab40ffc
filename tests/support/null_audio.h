// A private headless PulseAudio whose default sink is an 8 kHz null sink (scripts/null-audio.sh):
// programs given env() play into it, and its monitor records what they played. Plus the
// comparison of such a capture with the audio that was sent.
#pragma once

#include <string>

#include "support/child_process.h"

namespace callproxy::test {

class NullAudio {
 public:
  NullAudio();   // throws with the script's output when PulseAudio cannot start
  ~NullAudio();  // stops what it started
  NullAudio(const NullAudio&) = delete;
  NullAudio& operator=(const NullAudio&) = delete;

  const EnvChanges& env() const { return env_; }
  void record_start(const std::string& wav_path);
  void record_stop();

 private:
  CommandResult script(const std::vector<std::string>& args) const;
  std::string dir_;
  EnvChanges env_;
};

struct CaptureComparison {
  bool matches = false;  // at least the required fraction of `sent` found, sample for sample
  std::string report;    // where it was found and how much matched, or why nothing could be
};

// Whether `capture` (16-bit PCM WAV) holds `sent` (16-bit PCM or G.711 mu-law WAV, decoded as
// sox does) at one offset, each sample within 1 LSB, for at least `min_fraction` of the samples.
// `tail_ms`: the end of `sent` allowed to be missing (PortAudio drops about its output latency
// when a stream stops unless the program pads).
CaptureComparison compare_capture(const std::string& capture, const std::string& sent, int tail_ms = 0,
                                  double min_fraction = 0.99);

}  // namespace callproxy::test
