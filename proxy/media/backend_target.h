// Where a call's audio goes: backend entries as the Studio flow names them ("host:port", a full
// ws:// / wss:// URL, or a Unix socket "unix:/path[:/target]"), each with the audio shape it wants
// after a '#' (audio/audio_shape.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audio/audio_shape.h"
#include "core/result.h"
#include "net/endpoint.h"

namespace callproxy::proxy {

// A backend's WebSocket endpoint (logged_url() names it in log lines: net/endpoint.h) and the
// shape of the audio it gets and sends back.
struct BackendTarget : net::Endpoint {
  audio::AudioShape shape;
  bool record = false;  // `record:`: the built-in recorder (proxy/media/recording.h), no network
  // `unix:`: the WebSocket is on this Unix socket (host is then "localhost", for the Host header,
  // and port 0); empty for a network backend.
  std::string socket_path;

  // What log lines call it: logged_url(), the socket ("unix:/run/bot.sock:/media") or the
  // recorder's entry ("record:stereo").
  std::string name() const;
};

// "host:port" means ws://host:port/media and "host" ws://host:80/media (the Node service's
// convention); a ws:// or wss:// URL is used as given (without a port, 80 or 443). Anything else
// is an error naming the entry. "#options" after either names the audio shape (an unknown or
// malformed option is an error naming the entry too); without it, Twilio's own.
// "unix:/run/bot.sock" is a WebSocket on that socket at /media, "unix:/run/bot.sock:/in" at /in:
// an absolute path without '.' or '..' parts, empty parts or ':' (so the target is unambiguous),
// at most 107 bytes (what sockaddr_un holds).
// "record:" (or "record:stereo", "record:mix", then "#options" for the codec) is the built-in
// recorder: binary frames of its shape into a file; stereo without audio= is pcm16@8000, and
// tracks=both is refused (one file: stereo holds both sides).
Result<BackendTarget> parse_backend(std::string_view entry);

// customParameters.backendHosts: a JSON array of entries, encoded as a string.
Result<std::vector<std::string>> parse_backend_hosts(std::string_view json_text);

}  // namespace callproxy::proxy
