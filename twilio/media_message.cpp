// Media Streams JSON in and out, through nlohmann/json without exceptions escaping.
#include "twilio/media_message.h"

#include <nlohmann/json.hpp>

#include "core/json_text.h"
#include "twilio/json_fields.h"

namespace callproxy::twilio {

namespace fields {

void read_start_fields(const json& object, const std::string& prefix, StartMessage& m) {
  m.account_sid = optional_string(object, "accountSid", prefix + "accountSid");
  m.call_sid = optional_string(object, "callSid", prefix + "callSid");
  if (const auto it = object.find("tracks"); it != object.end()) {
    if (it->is_string()) {
      m.tracks.push_back(it->get<std::string>());  // the Node test client's shape
    } else if (it->is_array()) {
      for (const auto& track : *it) {
        if (!track.is_string()) fail(prefix + "tracks", "must hold strings");
        m.tracks.push_back(track.get<std::string>());
      }
    } else {
      fail(prefix + "tracks", "must be an array of strings");
    }
  }
  if (object.contains("mediaFormat")) {
    const json& format = object_member(object, "mediaFormat", prefix + "mediaFormat");
    m.media_format.encoding = string_field(format, "encoding", prefix + "mediaFormat.encoding");
    m.media_format.sample_rate = positive_int(format, "sampleRate", prefix + "mediaFormat.sampleRate");
    m.media_format.channels = positive_int(format, "channels", prefix + "mediaFormat.channels");
  }
  if (object.contains("customParameters")) {
    const json& params = object_member(object, "customParameters", prefix + "customParameters");
    for (const auto& [key, value] : params.items()) {
      if (!value.is_string()) fail(std::string(prefix).append("customParameters.").append(key), "must be a string");
      m.custom_parameters.emplace(key, value.get<std::string>());
    }
  }
}

namespace {

StartMessage parse_start(const json& root) {
  StartMessage m;
  m.sequence_number = counter_field(root, "sequenceNumber", "sequenceNumber");
  const json& start = object_member(root, "start", "start");
  m.stream_sid = start.contains("streamSid") ? string_field(start, "streamSid", "start.streamSid")
                                             : string_field(root, "streamSid", "streamSid");
  read_start_fields(start, "start.", m);
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

}  // namespace

TwilioMessage twilio_message(const json& root, const std::string& event) {
  if (event == "media") return parse_media(root);
  if (event == "start") return parse_start(root);
  if (event == "connected") {
    return ConnectedMessage{optional_string(root, "protocol", "protocol"), optional_string(root, "version", "version")};
  }
  if (event == "dtmf") {
    const json& dtmf = object_member(root, "dtmf", "dtmf");
    return DtmfMessage{counter_field(root, "sequenceNumber", "sequenceNumber"),
                       optional_string(root, "streamSid", "streamSid"), optional_string(dtmf, "track", "dtmf.track"),
                       string_field(dtmf, "digit", "dtmf.digit")};
  }
  if (event == "mark") {
    const json& mark = object_member(root, "mark", "mark");
    return MarkMessage{counter_field(root, "sequenceNumber", "sequenceNumber"),
                       optional_string(root, "streamSid", "streamSid"), string_field(mark, "name", "mark.name")};
  }
  if (event == "stop") {
    StopMessage m{counter_field(root, "sequenceNumber", "sequenceNumber"),
                  optional_string(root, "streamSid", "streamSid"),
                  {},
                  {}};
    if (root.contains("stop")) {
      const json& stop = object_member(root, "stop", "stop");
      m.account_sid = optional_string(stop, "accountSid", "stop.accountSid");
      m.call_sid = optional_string(stop, "callSid", "stop.callSid");
    }
    return m;
  }
  return UnknownMessage{event};
}

ReplyMessage twilio_reply(const json& root, const std::string& event) {
  const std::string stream_sid = optional_string(root, "streamSid", "streamSid");
  if (event == "media") {
    return ReplyMedia{stream_sid, string_field(object_member(root, "media", "media"), "payload", "media.payload")};
  }
  if (event == "mark")
    return ReplyMark{stream_sid, string_field(object_member(root, "mark", "mark"), "name", "mark.name")};
  if (event == "clear") return ReplyClear{stream_sid};
  return UnknownMessage{event};
}

}  // namespace fields

namespace {

using nlohmann::json;

std::string dump(const json& j) {
  // Replace rather than throw on invalid UTF-8 that came from a peer.
  return dump_json(j);
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
            {"media", {{"track", m.track}, {"chunk", m.chunk}, {"timestamp", m.timestamp}, {"payload", m.payload}}},
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
  json operator()(const ReplyClear& m) const { return {{"event", "clear"}, {"streamSid", m.stream_sid}}; }
};

}  // namespace

Result<TwilioMessage> parse_twilio_message(std::string_view text) {
  return fields::parse_event<TwilioMessage>(text, fields::twilio_message);
}

Result<ReplyMessage> parse_reply_message(std::string_view text) {
  return fields::parse_event<ReplyMessage>(text, fields::twilio_reply);
}

std::string serialize(const TwilioMessage& message) { return dump(std::visit(TwilioSerializer{}, message)); }

std::string serialize(const ReplyMessage& message) { return dump(std::visit(TwilioSerializer{}, message)); }

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
