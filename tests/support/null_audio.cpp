#include "support/null_audio.h"

#include <atomic>
#include <stdexcept>

#include <unistd.h>

namespace callproxy::test {
namespace {

std::string script_path() { return std::string(CALLPROXY_SHARED_DIR) + "/audio/null-audio.sh"; }

}  // namespace

NullAudio::NullAudio() {
  static std::atomic<int> counter{0};
  dir_ = "/tmp/callproxy-null-audio-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  const auto started = script({"start"});
  if (started.exit_code != 0) throw std::runtime_error("null-audio.sh start failed:\n" + started.out + started.err);
  // It prints: export PULSE_SERVER=... PULSE_COOKIE=...
  for (const auto* name : {"PULSE_SERVER", "PULSE_COOKIE"}) {
    const auto at = started.out.find(std::string(name) + "=");
    if (at == std::string::npos) throw std::runtime_error("null-audio.sh printed no " + std::string(name));
    const auto begin = at + std::string(name).size() + 1;
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

CommandResult compare_capture(const std::string& capture, const std::string& sent, int tail_ms) {
  // Debian's python3 (with python3-numpy), whatever python3 is first on PATH.
  return run_command({"/usr/bin/python3", std::string(CALLPROXY_SHARED_DIR) + "/audio/compare_capture.py", capture, sent,
                      std::to_string(tail_ms)});
}

}  // namespace callproxy::test
