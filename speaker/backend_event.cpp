// The speaker's view of a backend message: twilio/backend_protocol reads either format, this
// keeps what playing needs and decodes media to PCM.
#include "speaker/backend_event.h"

#include <variant>

#include "twilio/backend_protocol.h"
#include "twilio/base64.h"
#include "twilio/mulaw.h"

namespace callproxy::speaker {

Result<BackendEvent> decode_backend_message(std::string_view text) {
  auto read = twilio::read_backend_message(text);
  if (!read) return Error{read.error()};
  using Kind = BackendEvent::Kind;
  return std::visit(
      [](auto& m) -> Result<BackendEvent> {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, twilio::MediaMessage>) {
          const auto bytes = twilio::base64_decode(m.payload);
          if (!bytes) return Error{"media payload is not valid base64"};
          BackendEvent e{Kind::media, std::move(m.stream_sid), "media", {}, std::move(m.payload), {}, {}};
          e.pcm.resize(bytes->size());
          twilio::mulaw_decode(*bytes, e.pcm);
          e.bytes = std::move(*bytes);
          return e;
        } else if constexpr (std::is_same_v<T, twilio::StartMessage>) {
          BackendEvent e{Kind::start, std::move(m.stream_sid), "start", {}, {}, {}, {}};
          e.format = m.media_format;
          return e;
        } else if constexpr (std::is_same_v<T, twilio::StopMessage>) {
          return BackendEvent{Kind::stop, std::move(m.stream_sid), "stop", {}, {}};
        } else if constexpr (std::is_same_v<T, twilio::DtmfMessage>) {
          return BackendEvent{Kind::dtmf, std::move(m.stream_sid), "dtmf", {}, {}};
        } else if constexpr (std::is_same_v<T, twilio::MarkMessage>) {
          return BackendEvent{Kind::mark, std::move(m.stream_sid), "mark", {}, {}};
        } else if constexpr (std::is_same_v<T, twilio::ConnectedMessage>) {
          return BackendEvent{Kind::connected, {}, "connected", {}, {}};
        } else {
          return BackendEvent{Kind::other, {}, std::move(m.event), {}, {}};
        }
      },
      read.value().message);
}

}  // namespace callproxy::speaker
