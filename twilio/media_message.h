// Twilio Media Streams messages (https://www.twilio.com/docs/voice/media-streams/websocket-messages):
// what Twilio sends to a stream's server, and what a server may send back on a bidirectional
// stream. Twilio's types are kept: counters are strings, tracks an array, custom parameters a
// string map. Parsing never throws; bad input comes back as an Error naming the problem.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.h"

namespace callproxy::twilio {

struct MediaFormat {
  std::string encoding = "audio/x-mulaw";
  int sample_rate = 8000;
  int channels = 1;
};

// ---- Twilio -> server ------------------------------------------------------------------

struct ConnectedMessage {
  std::string protocol = "Call";
  std::string version = "1.0.0";
};

struct StartMessage {
  std::string sequence_number;
  std::string stream_sid;
  std::string account_sid;
  std::string call_sid;
  std::vector<std::string> tracks;
  MediaFormat media_format;
  std::map<std::string, std::string> custom_parameters;
};

struct MediaMessage {
  std::string sequence_number;
  std::string stream_sid;
  std::string track;
  std::string chunk;
  std::string timestamp;  // milliseconds since the stream started
  std::string payload;    // base64 of mu-law bytes; kept encoded (the hot path forwards it)
};

struct DtmfMessage {
  std::string sequence_number;
  std::string stream_sid;
  std::string track;
  std::string digit;
};

struct MarkMessage {
  std::string sequence_number;
  std::string stream_sid;
  std::string name;
};

struct StopMessage {
  std::string sequence_number;
  std::string stream_sid;
  std::string account_sid;
  std::string call_sid;
};

// An event this code does not know (Twilio adds events): receivers ignore it.
struct UnknownMessage {
  std::string event;
};

using TwilioMessage =
    std::variant<ConnectedMessage, StartMessage, MediaMessage, DtmfMessage, MarkMessage, StopMessage, UnknownMessage>;

Result<TwilioMessage> parse_twilio_message(std::string_view text);
std::string serialize(const TwilioMessage& message);

// ---- server -> Twilio (bidirectional streams) ------------------------------------------

struct ReplyMedia {
  std::string stream_sid;
  std::string payload;  // base64 mu-law
};

struct ReplyMark {
  std::string stream_sid;
  std::string name;
};

struct ReplyClear {
  std::string stream_sid;
};

using ReplyMessage = std::variant<ReplyMedia, ReplyMark, ReplyClear, UnknownMessage>;

// Twilio's shape only ({"media":{"payload":…}}, {"mark":{"name":…}}); streamSid may be absent.
// What backends send, in either shape, is read by twilio/backend_protocol.h.
Result<ReplyMessage> parse_reply_message(std::string_view text);
std::string serialize(const ReplyMessage& message);

// The event name of a parsed message ("media", "start", …).
std::string_view event_name(const TwilioMessage& message);
std::string_view event_name(const ReplyMessage& message);

}  // namespace callproxy::twilio
