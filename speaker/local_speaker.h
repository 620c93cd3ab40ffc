// `callproxy local-speaker`: a backend that plays the calls it receives.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace callproxy::speaker {

struct LocalSpeakerOptions {
  enum class Output { portaudio, wav, null };
  std::string bind = "0.0.0.0";
  std::uint16_t port = 8888;  // 0 picks a free one (logged)
  std::string path = "/media";
  // Listen on this Unix socket instead of TCP (serve names it as a backend: unix:PATH:/media).
  std::string socket_path;
  Output output = Output::portaudio;
  std::string device;   // PortAudio device index or name; empty: the default output
  std::string wav_out;  // also (or, with Output::wav, only) write what plays to this WAV file
  bool echo = false;    // send received audio back as replies
  // Messages sent to the proxy on every stream, each `at` after its start (--send): a bot's
  // control messages by hand ({"event":"hangup"}, docs/call-control.md).
  struct Send {
    std::chrono::milliseconds at{0};
    std::string text;
  };
  std::vector<Send> sends;
  bool list_devices = false;
  std::chrono::milliseconds jitter_buffer{200};
  std::size_t max_message_bytes = 1 << 20;
};

// Runs until SIGINT/SIGTERM; returns the exit code (2 when there is no device to play on).
int run_local_speaker(const LocalSpeakerOptions& options);

}  // namespace callproxy::speaker
