// A private headless PulseAudio whose default sink is an 8 kHz null sink, started with
// ../shared/audio/null-audio.sh; programs given env() play into it, and its monitor records.
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

// Runs ../shared/audio/compare_capture.py; exit code 0 when `capture` holds `sent`.
// `tail_ms`: the end of `sent` that may be missing from `capture`.
CommandResult compare_capture(const std::string& capture, const std::string& sent, int tail_ms = 0);

}  // namespace callproxy::test
