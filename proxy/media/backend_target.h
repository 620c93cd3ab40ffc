// Where a call's audio goes: backend entries as the Studio flow names them ("host:port", or a
// full ws:// / wss:// URL), each with the audio shape it wants after a '#' (audio/audio_shape.h).
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
};

// "host:port" means ws://host:port/media and "host" ws://host:80/media (the Node service's
// convention); a ws:// or wss:// URL is used as given (without a port, 80 or 443). Anything else
// is an error naming the entry. "#options" after either names the audio shape (an unknown or
// malformed option is an error naming the entry too); without it, Twilio's own.
Result<BackendTarget> parse_backend(std::string_view entry);

// customParameters.backendHosts: a JSON array of entries, encoded as a string.
Result<std::vector<std::string>> parse_backend_hosts(std::string_view json_text);

}  // namespace callproxy::proxy
