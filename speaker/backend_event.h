// What a backend receives from the proxy, in either format the proxy emits (read by
// twilio/backend_protocol.h), as the speaker uses it: audio comes out as PCM.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "twilio/media_message.h"

namespace callproxy::speaker {

struct BackendEvent {
  enum class Kind { connected, start, media, dtmf, mark, stop, other };
  Kind kind = Kind::other;
  std::string stream_sid;           // when the message names one
  std::string event;                // the event name as sent
  std::vector<std::int16_t> pcm;    // media: decoded 16-bit samples at 8 kHz, read as mu-law
  std::string payload;              // media: the base64 payload as received
  std::vector<std::uint8_t> bytes;  // media: the payload decoded (another audio shape reads these)
  twilio::MediaFormat format;       // start: what the stream carries (mediaFormat)
};

// Decodes one message; media payloads must be valid base64.
Result<BackendEvent> decode_backend_message(std::string_view text);

}  // namespace callproxy::speaker
