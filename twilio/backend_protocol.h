// The protocol between serve and its backends, derived from Twilio's media-stream messages
// (twilio/media_message.h): a writer and a reader for each direction, in both formats serve
// emits. `simple` is the Node service's flat JSON ({"event":"media","media":"<base64>"}, …);
// `twilio` is Twilio's own messages, passed through. Writers escape every string they are given,
// so no peer's text can add or change a field, and write valid UTF-8 (core/json_text.h).
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "twilio/media_message.h"

namespace callproxy::twilio {

enum class BackendFormat { simple, twilio };

// ---- serve -> backend ----------------------------------------------------------------------

// The simple format, one writer per message (docs/serve.md, "Backend protocol"):
//   {"accountSid":…,"callSid":…,"customParameters":{…},"event":"start","mediaFormat":{…},"streamSid":…,"tracks":[…]}
//   {"event":"media","media":"<base64>"}   {"event":"dtmf","digit":"5"}
//   {"event":"mark","name":"…"}            {"event":"stop"}
std::string write_simple_start(const StartMessage& start);
// Runs for every frame: writes into `out` (replacing its text, reusing its capacity), no DOM;
// a payload that needs no escaping (base64 never does) is copied as is.
void write_simple_media(std::string& out, std::string_view base64_payload);
std::string write_simple_media(std::string_view base64_payload);
std::string write_simple_dtmf(std::string_view digit);
std::string write_simple_mark(std::string_view name);
std::string write_simple_stop();

// Either format, for messages serve writes itself (in the twilio format it forwards Twilio's
// own text whenever it has one). The simple format has no connected and no unknown events:
// those are written as Twilio writes them, flat already.
std::string write_backend_message(BackendFormat format, const TwilioMessage& message);

struct BackendMessage {
  BackendFormat format;   // the shape it came in
  TwilioMessage message;  // in Twilio's terms; what the simple format lacks stays empty
};

// Either format, told apart by shape: Twilio's messages carry the event's object
// ("media":{…}, "start":{…}, "dtmf":{…}, "mark":{…}, "stop":{…}), the simple ones are flat;
// connected and unknown events are Twilio's. Errors name the field.
Result<BackendMessage> read_backend_message(std::string_view text);

// ---- backend -> serve (replies; serve relays them to Twilio in Twilio's shape: serialize) ----

// The simple reply shapes are the simple messages above: media is write_simple_media, a mark
// write_simple_mark; clear is {"event":"clear"}. The simple shape carries no streamSid (serve
// puts the call's own on what it relays).
std::string write_simple_clear();
std::string write_backend_reply(BackendFormat format, const ReplyMessage& reply);

// Either shape: {"media":"<base64>"} or {"media":{"payload":…}}, {"name":…} or
// {"mark":{"name":…}}, clear; unknown events come back as UnknownMessage. Errors name the field.
Result<ReplyMessage> read_backend_reply(std::string_view text);

}  // namespace callproxy::twilio
