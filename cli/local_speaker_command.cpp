// callproxy local-speaker: plays a backend's part, playing the caller's audio.
#include <CLI/CLI.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/duration.h"
#include "speaker/local_speaker.h"

namespace callproxy::cli {

RunFunction setup_local_speaker(CLI::App& parent) {
  auto options = std::make_shared<speaker::LocalSpeakerOptions>();
  auto output = std::make_shared<std::string>("portaudio");
  auto jitter = std::make_shared<std::chrono::milliseconds>(200);
  auto* app = parent.add_subcommand(
      "local-speaker", "Accept the proxy's backend streams and play the callers' audio (PortAudio or a WAV file)");
  app->add_option("--port,-p", options->port, "TCP port to listen on (0 picks a free one)")
      ->envname("SPEAKER_PORT")
      ->capture_default_str();
  app->add_option("--bind", options->bind, "Address to listen on")->capture_default_str();
  app->add_option("--socket", options->socket_path,
                  "Listen on this Unix socket instead of TCP (serve's backend entry: unix:PATH:/media)")
      ->check([](const std::string& p) { return p.empty() || p.front() != '/' ? "must be an absolute path" : ""; });
  app->add_option("--path", options->path, "WebSocket path streams arrive on")
      ->check([](const std::string& p) { return p.empty() || p.front() != '/' ? "must start with '/'" : ""; })
      ->capture_default_str();
  app->add_option("--output", *output, "portaudio (a sound device), wav (--wav-out only) or null (count only)")
      ->check(CLI::IsMember({"portaudio", "wav", "null"}))
      ->capture_default_str();
  app->add_option("--device", options->device, "PortAudio output device: index or (part of the) name");
  app->add_flag("--list-devices", options->list_devices, "List output devices and exit");
  app->add_option("--wav-out", options->wav_out, "Also write what plays to FILE.wav (valid at any stop)");
  app->add_flag("--echo", options->echo, "Send received audio back to the caller (tests the reply path)");
  add_duration(*app, "--jitter-buffer", *jitter, "Audio buffered before a stream plays", {0, 5});
  auto sends = std::make_shared<std::vector<std::string>>();
  app->add_option("--send", *sends,
                  "JSON@SECONDS: send this message to the proxy that long after each stream's start, as a bot would: "
                  "'{\"event\":\"hangup\",\"say\":\"Bye.\"}@3' (repeatable; docs/call-control.md)")
      ->check([](const std::string& entry) -> std::string {
        const auto at = entry.rfind('@');
        if (at == std::string::npos) return "must be JSON@SECONDS";
        if (!nlohmann::json::accept(entry.substr(0, at))) return "'" + entry.substr(0, at) + "' is not JSON";
        try {
          std::size_t used = 0;
          const double seconds = std::stod(entry.substr(at + 1), &used);
          if (used != entry.size() - at - 1 || !(seconds >= 0 && seconds <= 86400)) throw std::invalid_argument("");
        } catch (const std::exception&) {
          return "'" + entry.substr(at + 1) + "' is not a number of seconds (0 to 86400)";
        }
        return "";
      });
  return [options, output, jitter, sends] {
    for (const auto& entry : *sends) {
      const auto at = entry.rfind('@');
      options->sends.push_back(
          {std::chrono::milliseconds(static_cast<long long>(std::stod(entry.substr(at + 1)) * 1000)),
           entry.substr(0, at)});
    }
    options->output = *output == "wav"    ? speaker::LocalSpeakerOptions::Output::wav
                      : *output == "null" ? speaker::LocalSpeakerOptions::Output::null
                                          : speaker::LocalSpeakerOptions::Output::portaudio;
    options->jitter_buffer = *jitter;
    return speaker::run_local_speaker(*options);
  };
}

}  // namespace callproxy::cli
