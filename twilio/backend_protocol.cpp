// The backend protocol's writers (hand-written for the small messages, a DOM only for the start)
// and readers (one JSON parse, then the shape decides the format).
#include "twilio/backend_protocol.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/byte_class.h"
#include "core/json_text.h"
#include "twilio/json_fields.h"

namespace callproxy::twilio {
namespace {

using nlohmann::json;
using namespace fields;

// Appends `text` as a JSON string: as is when no byte needs escaping (base64, sids, digits),
// else through dump_json, which escapes and replaces invalid UTF-8 as the rest of the program.
void append_json_string(std::string& out, std::string_view text) {
  if (is_json_plain(text)) {
    out += '"';
    out += text;
    out += '"';
  } else {
    out += dump_json(json(text));
  }
}

std::string flat_message(std::string_view event, std::string_view key, std::string_view value) {
  std::string out = R"({"event":")";
  out += event;
  out += R"(",")";
  out += key;
  out += R"(":)";
  append_json_string(out, value);
  out += '}';
  return out;
}

// The simple messages, from a parsed flat object (throws FieldError).
TwilioMessage simple_message(const json& root, const std::string& event) {
  std::string stream_sid = optional_string(root, "streamSid", "streamSid");
  if (event == "start") {
    StartMessage m;
    m.stream_sid = string_field(root, "streamSid", "streamSid");
    read_start_fields(root, "", m);
    return m;
  }
  if (event == "media") {
    MediaMessage m;
    m.stream_sid = std::move(stream_sid);
    m.payload = string_field(root, "media", "media");
    return m;
  }
  if (event == "dtmf") return DtmfMessage{{}, std::move(stream_sid), {}, string_field(root, "digit", "digit")};
  if (event == "mark") return MarkMessage{{}, std::move(stream_sid), string_field(root, "name", "name")};
  return StopMessage{{}, std::move(stream_sid), {}, {}};
}

BackendMessage backend_message(const json& root, const std::string& event) {
  const bool simple_event = event == "start" || event == "media" || event == "dtmf" || event == "mark" ||
                            event == "stop";
  const auto it = root.find(event);
  if (!simple_event || (it != root.end() && it->is_object())) {
    return {BackendFormat::twilio, twilio_message(root, event)};
  }
  if (it != root.end() && !(event == "media" && it->is_string())) {
    fail(event, event == "media" ? "must be an object or a string" : "must be an object");
  }
  return {BackendFormat::simple, simple_message(root, event)};
}

ReplyMessage backend_reply(const json& root, const std::string& event) {
  if (event == "media") {
    const json& media = member(root, "media", "media");
    if (media.is_string()) return ReplyMedia{optional_string(root, "streamSid", "streamSid"), media.get<std::string>()};
    if (!media.is_object()) fail("media", "must be an object or a string");
  }
  if (event == "mark" && !root.contains("mark") && root.contains("name")) {
    return ReplyMark{optional_string(root, "streamSid", "streamSid"), string_field(root, "name", "name")};
  }
  return twilio_reply(root, event);
}

}  // namespace

// ---- serve -> backend ----------------------------------------------------------------------

std::string write_simple_start(const StartMessage& start) {
  // Once per call, so a DOM: its keys come out sorted, as serve has always written them.
  const json simple{{"event", "start"},
                    {"streamSid", start.stream_sid},
                    {"callSid", start.call_sid},
                    {"accountSid", start.account_sid},
                    {"tracks", start.tracks},
                    {"customParameters", start.custom_parameters},
                    {"mediaFormat",
                     {{"encoding", start.media_format.encoding},
                      {"sampleRate", start.media_format.sample_rate},
                      {"channels", start.media_format.channels}}}};
  return dump_json(simple);
}

void write_simple_media(std::string& out, std::string_view base64_payload) {
  static constexpr std::string_view head = R"({"event":"media","media":)";
  out.clear();
  out.reserve(head.size() + base64_payload.size() + 3);
  out += head;
  append_json_string(out, base64_payload);
  out += '}';
}

std::string write_simple_media(std::string_view base64_payload) {
  std::string out;
  write_simple_media(out, base64_payload);
  return out;
}

std::string write_simple_dtmf(std::string_view digit) { return flat_message("dtmf", "digit", digit); }

std::string write_simple_mark(std::string_view name) { return flat_message("mark", "name", name); }

std::string write_simple_stop() { return R"({"event":"stop"})"; }

std::string write_backend_message(BackendFormat format, const TwilioMessage& message) {
  if (format == BackendFormat::twilio) return serialize(message);
  if (const auto* start = std::get_if<StartMessage>(&message)) return write_simple_start(*start);
  if (const auto* media = std::get_if<MediaMessage>(&message)) return write_simple_media(media->payload);
  if (const auto* dtmf = std::get_if<DtmfMessage>(&message)) return write_simple_dtmf(dtmf->digit);
  if (const auto* mark = std::get_if<MarkMessage>(&message)) return write_simple_mark(mark->name);
  if (std::holds_alternative<StopMessage>(message)) return write_simple_stop();
  return serialize(message);
}

Result<BackendMessage> read_backend_message(std::string_view text) {
  return parse_event<BackendMessage>(text, backend_message);
}

// ---- backend -> serve ----------------------------------------------------------------------

std::string write_simple_clear() { return R"({"event":"clear"})"; }

std::string write_backend_reply(BackendFormat format, const ReplyMessage& reply) {
  if (format == BackendFormat::twilio) return serialize(reply);
  if (const auto* media = std::get_if<ReplyMedia>(&reply)) return write_simple_media(media->payload);
  if (const auto* mark = std::get_if<ReplyMark>(&reply)) return write_simple_mark(mark->name);
  if (std::holds_alternative<ReplyClear>(reply)) return write_simple_clear();
  return serialize(reply);
}

Result<ReplyMessage> read_backend_reply(std::string_view text) {
  return parse_event<ReplyMessage>(text, backend_reply);
}

}  // namespace callproxy::twilio
