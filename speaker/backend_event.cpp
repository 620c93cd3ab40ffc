#include "speaker/backend_event.h"

#include <variant>

#include <nlohmann/json.hpp>

#include "twilio/base64.h"
#include "twilio/json_limits.h"
#include "twilio/media_message.h"
#include "twilio/mulaw.h"

namespace callproxy::speaker {
namespace {

twilio::Result<BackendEvent> media_event(std::string stream_sid, std::string_view payload) {
  const auto bytes = twilio::base64_decode(payload);
  if (!bytes) return twilio::Error{"media payload is not valid base64"};
  BackendEvent e{BackendEvent::Kind::media, std::move(stream_sid), "media", {}, std::string(payload)};
  e.pcm.resize(bytes->size());
  twilio::mulaw_decode(*bytes, e.pcm);
  return e;
}

}  // namespace

twilio::Result<BackendEvent> decode_backend_message(std::string_view text) {
  // The simple format's media is a bare string, which the reply parser understands; Twilio's
  // format is what Twilio sends, which the Twilio parser understands. Try the common case first.
  auto parsed = twilio::parse_twilio_message(text);
  if (!parsed) {
    const auto reply = twilio::parse_reply_message(text);
    if (reply) {
      if (const auto* media = std::get_if<twilio::ReplyMedia>(&reply.value())) {
        return media_event(media->stream_sid, media->payload);
      }
      // Simple-format control events carry no Twilio sub-objects: classify by name, and take
      // the streamSid the proxy puts at the top of its simple start.
      if (const auto* other = std::get_if<twilio::UnknownMessage>(&reply.value())) {
        using Kind = BackendEvent::Kind;
        const auto& name = other->event;
        const Kind kind = name == "start" ? Kind::start
                          : name == "dtmf" ? Kind::dtmf
                          : name == "mark" ? Kind::mark
                                           : Kind::other;
        std::string stream_sid;
        if (const auto json = twilio::parse_json_bounded(text); json && json.value().is_object()) {
          const auto it = json.value().find("streamSid");
          if (it != json.value().end() && it->is_string()) stream_sid = *it;
        }
        return BackendEvent{kind, std::move(stream_sid), name, {}, {}};
      }
    }
    return twilio::Error{parsed.error()};
  }
  using Kind = BackendEvent::Kind;
  return std::visit(
      [](auto& m) -> twilio::Result<BackendEvent> {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, twilio::MediaMessage>) {
          return media_event(m.stream_sid, m.payload);
        } else if constexpr (std::is_same_v<T, twilio::StartMessage>) {
          return BackendEvent{Kind::start, m.stream_sid, "start", {}, {}};
        } else if constexpr (std::is_same_v<T, twilio::StopMessage>) {
          return BackendEvent{Kind::stop, m.stream_sid, "stop", {}, {}};
        } else if constexpr (std::is_same_v<T, twilio::DtmfMessage>) {
          return BackendEvent{Kind::dtmf, m.stream_sid, "dtmf", {}, {}};
        } else if constexpr (std::is_same_v<T, twilio::MarkMessage>) {
          return BackendEvent{Kind::mark, m.stream_sid, "mark", {}, {}};
        } else if constexpr (std::is_same_v<T, twilio::ConnectedMessage>) {
          return BackendEvent{Kind::connected, {}, "connected", {}, {}};
        } else {
          return BackendEvent{Kind::other, {}, m.event, {}, {}};
        }
      },
      parsed.value());
}

}  // namespace callproxy::speaker
