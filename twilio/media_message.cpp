// Media Streams JSON in and out, through nlohmann/json without exceptions escaping.
#include "twilio/media_message.h"

#include <nlohmann/json.hpp>

#include "twilio/json_limits.h"

namespace callproxy::twilio {
namespace {

using nlohmann::json;

// Thrown only inside this file and caught in the parse functions below.
struct FieldError {
  std::string message;
};

const json& member(const json& object, const char* key, std::string_view path) {
  const auto it = object.find(key);
  if (it == object.end()) throw FieldError{"field '" + std::string(path) + "' is missing"};
  return *it;
}

const json& object_member(const json& object, const char* key, std::string_view path) {
  const json& value = member(object, key, path);
  if (!value.is_object()) throw FieldError{"field '" + std::string(path) + "' must be an object"};
  return value;
}

std::string string_field(const json& object, const char* key, std::string_view path) {
  const json& value = member(object, key, path);
  if (!value.is_string()) throw FieldError{"field '" + std::string(path) + "' must be a string"};
  return value.get<std::string>();
}

std::string optional_string(const json& object, const char* key, std::string_view path) {
  return object.contains(key) ? string_field(object, key, path) : std::string{};
}

// Twilio sends counters as strings; a whole non-negative number is harmless and accepted.
std::string counter_field(const json& object, const char* key, std::string_view path) {
  const auto it = object.find(key);
  if (it == object.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_unsigned()) return std::to_string(it->get<std::uint64_t>());
  throw FieldError{"field '" + std::string(path) + "' must be a string"};
}

int positive_int(const json& object, const char* key, std::string_view path) {
  const json& value = member(object, key, path);
  if (!value.is_number_integer() || value.get<long long>() <= 0 || value.get<long long>() > 1'000'000) {
    throw FieldError{"field '" + std::string(path) + "' must be a positive integer"};
  }
  return value.get<int>();
}

StartMessage parse_start(const json& root) {
  StartMessage m;
  m.sequence_number = counter_field(root, "sequenceNumber", "sequenceNumber");
  const json& start = object_member(root, "start", "start");
  m.stream_sid = start.contains("streamSid") ? string_field(start, "streamSid", "start.streamSid")
                                             : string_field(root, "streamSid", "streamSid");
  m.account_sid = optional_string(start, "accountSid", "start.accountSid");
  m.call_sid = optional_string(start, "callSid", "start.callSid");
  if (const auto it = start.find("tracks"); it != start.end()) {
    if (it->is_string()) {
      m.tracks.push_back(it->get<std::string>());  // the Node test client's shape
    } else if (it->is_array()) {
      for (const auto& track : *it) {
        if (!track.is_string()) throw FieldError{"field 'start.tracks' must hold strings"};
        m.tracks.push_back(track.get<std::string>());
      }
    } else {
      throw FieldError{"field 'start.tracks' must be an array of strings"};
    }
  }
  if (start.contains("mediaFormat")) {
    const json& format = object_member(start, "mediaFormat", "start.mediaFormat");
    m.media_format.encoding = string_field(format, "encoding", "start.mediaFormat.encoding");
    m.media_format.sample_rate = positive_int(format, "sampleRate", "start.mediaFormat.sampleRate");
    m.media_format.channels = positive_int(format, "channels", "start.mediaFormat.channels");
  }
  if (start.contains("customParameters")) {
    const json& params = object_member(start, "customParameters", "start.customParameters");
    for (const auto& [key, value] : params.items()) {
      if (!value.is_string()) {
        throw FieldError{"field 'start.customParameters." + key + "' must be a string"};
      }
      m.custom_parameters.emplace(key, value.get<std::string>());
    }
  }
  return m;
}

MediaMessage parse_media(const json& root) {
  MediaMessage m;
  m.sequence_number = counter_field(root, "sequenceNumber", "sequenceNumber");
  m.stream_sid = optional_string(root, "streamSid", "streamSid");
  const json& media = object_member(root, "media", "media");
  m.track = optional_string(media, "track", "media.track");
  m.chunk = counter_field(media, "chunk", "media.chunk");
  m.timestamp = counter_field(media, "timestamp", "media.timestamp");
  m.payload = string_field(media, "payload", "media.payload");
  return m;
}

TwilioMessage parse_twilio(const json& root, const std::string& event) {
  if (event == "media") return parse_media(root);
  if (event == "start") return parse_start(root);
  if (event == "connected") {
    return ConnectedMessage{optional_string(root, "protocol", "protocol"),
                            optional_string(root, "version", "version")};
  }
  if (event == "dtmf") {
    const json& dtmf = object_member(root, "dtmf", "dtmf");
    return DtmfMessage{counter_field(root, "sequenceNumber", "sequenceNumber"),
                       optional_string(root, "streamSid", "streamSid"),
                       optional_string(dtmf, "track", "dtmf.track"),
                       string_field(dtmf, "digit", "dtmf.digit")};
  }
  if (event == "mark") {
    const json& mark = object_member(root, "mark", "mark");
    return MarkMessage{counter_field(root, "sequenceNumber", "sequenceNumber"),
                       optional_string(root, "streamSid", "streamSid"),
                       string_field(mark, "name", "mark.name")};
  }
  if (event == "stop") {
    StopMessage m{counter_field(root, "sequenceNumber", "sequenceNumber"),
                  optional_string(root, "streamSid", "streamSid"), {}, {}};
    if (root.contains("stop")) {
      const json& stop = object_member(root, "stop", "stop");
      m.account_sid = optional_string(stop, "accountSid", "stop.accountSid");
      m.call_sid = optional_string(stop, "callSid", "stop.callSid");
    }
    return m;
  }
  return UnknownMessage{event};
}

ReplyMessage parse_reply(const json& root, const std::string& event) {
  const std::string stream_sid = optional_string(root, "streamSid", "streamSid");
  if (event == "media") {
    const json& media = member(root, "media", "media");
    if (media.is_string()) return ReplyMedia{stream_sid, media.get<std::string>()};
    if (!media.is_object()) throw FieldError{"field 'media' must be an object or a string"};
    return ReplyMedia{stream_sid, string_field(media, "payload", "media.payload")};
  }
  if (event == "mark") {
    // The simple backend shape puts the name at the top: {"event":"mark","name":"..."}.
    if (!root.contains("mark") && root.contains("name")) return ReplyMark{stream_sid, string_field(root, "name", "name")};
    const json& mark = member(root, "mark", "mark");
    if (mark.is_object()) return ReplyMark{stream_sid, string_field(mark, "name", "mark.name")};
    throw FieldError{"field 'mark' must be an object"};
  }
  if (event == "clear") return ReplyClear{stream_sid};
  return UnknownMessage{event};
}

// Parses `text` as a JSON object with a string "event" and hands it to `build`.
template <class Message, class Build>
Result<Message> parse_with(std::string_view text, Build build) {
  auto parsed = parse_json_bounded(text);
  if (!parsed) return Error{parsed.error()};
  const json& root = parsed.value();
  if (!root.is_object()) return Error{"message is not a JSON object"};
  try {
    return build(root, string_field(root, "event", "event"));
  } catch (const FieldError& e) {
    return Error{e.message};
  } catch (const json::exception& e) {
    return Error{std::string("malformed message: ") + e.what()};
  }
}

std::string dump(const json& j) {
  // Replace rather than throw on invalid UTF-8 that came from a peer.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

struct TwilioSerializer {
  json operator()(const ConnectedMessage& m) const {
    return {{"event", "connected"}, {"protocol", m.protocol}, {"version", m.version}};
  }
  json operator()(const StartMessage& m) const {
    return {{"event", "start"},
            {"sequenceNumber", m.sequence_number},
            {"start",
             {{"accountSid", m.account_sid},
              {"streamSid", m.stream_sid},
              {"callSid", m.call_sid},
              {"tracks", m.tracks},
              {"mediaFormat",
               {{"encoding", m.media_format.encoding},
                {"sampleRate", m.media_format.sample_rate},
                {"channels", m.media_format.channels}}},
              {"customParameters", m.custom_parameters}}},
            {"streamSid", m.stream_sid}};
  }
  json operator()(const MediaMessage& m) const {
    return {{"event", "media"},
            {"sequenceNumber", m.sequence_number},
            {"media",
             {{"track", m.track}, {"chunk", m.chunk}, {"timestamp", m.timestamp}, {"payload", m.payload}}},
            {"streamSid", m.stream_sid}};
  }
  json operator()(const DtmfMessage& m) const {
    return {{"event", "dtmf"},
            {"streamSid", m.stream_sid},
            {"sequenceNumber", m.sequence_number},
            {"dtmf", {{"track", m.track}, {"digit", m.digit}}}};
  }
  json operator()(const MarkMessage& m) const {
    return {{"event", "mark"},
            {"sequenceNumber", m.sequence_number},
            {"streamSid", m.stream_sid},
            {"mark", {{"name", m.name}}}};
  }
  json operator()(const StopMessage& m) const {
    return {{"event", "stop"},
            {"sequenceNumber", m.sequence_number},
            {"stop", {{"accountSid", m.account_sid}, {"callSid", m.call_sid}}},
            {"streamSid", m.stream_sid}};
  }
  json operator()(const UnknownMessage& m) const { return {{"event", m.event}}; }

  json operator()(const ReplyMedia& m) const {
    return {{"event", "media"}, {"streamSid", m.stream_sid}, {"media", {{"payload", m.payload}}}};
  }
  json operator()(const ReplyMark& m) const {
    return {{"event", "mark"}, {"streamSid", m.stream_sid}, {"mark", {{"name", m.name}}}};
  }
  json operator()(const ReplyClear& m) const {
    return {{"event", "clear"}, {"streamSid", m.stream_sid}};
  }
};

}  // namespace

Result<TwilioMessage> parse_twilio_message(std::string_view text) {
  return parse_with<TwilioMessage>(text, parse_twilio);
}

Result<ReplyMessage> parse_reply_message(std::string_view text) {
  return parse_with<ReplyMessage>(text, parse_reply);
}

std::string serialize(const TwilioMessage& message) {
  return dump(std::visit(TwilioSerializer{}, message));
}

std::string serialize(const ReplyMessage& message) {
  return dump(std::visit(TwilioSerializer{}, message));
}

std::string_view event_name(const TwilioMessage& message) {
  static constexpr std::string_view names[] = {"connected", "start", "media", "dtmf", "mark", "stop"};
  if (const auto* unknown = std::get_if<UnknownMessage>(&message)) return unknown->event;
  return names[message.index()];
}

std::string_view event_name(const ReplyMessage& message) {
  static constexpr std::string_view names[] = {"media", "mark", "clear"};
  if (const auto* unknown = std::get_if<UnknownMessage>(&message)) return unknown->event;
  return names[message.index()];
}

}  // namespace callproxy::twilio
