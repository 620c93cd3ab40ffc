// The backend protocol's readers, on what a backend (or a peer posing as one) sends: messages in
// either format (read_backend_message, as local-speaker reads serve) and replies in either shape
// (read_backend_reply, as serve reads its primary backend). Whatever a reader accepts, each
// writer writes as text that reads back to the same message, and what serve would relay to
// Twilio (serialize) reads back as Twilio's own shape. A control message (read_call_control) that
// is accepted holds to its bounds and its kept form reads back to the same decision.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "twilio/backend_protocol.h"
#include "twilio/call_control.h"

using namespace callproxy;
using namespace callproxy::twilio;

namespace {

constexpr BackendFormat formats[] = {BackendFormat::simple, BackendFormat::twilio};

void check_messages(std::string_view text) {
  const auto read = read_backend_message(text);
  if (!read) return;
  for (const auto format : formats) {
    const auto written = write_backend_message(format, read.value().message);
    const auto again = read_backend_message(written);
    fuzz::require(again.ok(), "a written backend message does not read back", written);
    fuzz::require(event_name(again.value().message) == event_name(read.value().message),
                  "a backend message changed its event on a round trip", written);
    fuzz::require(write_backend_message(format, again.value().message) == written,
                  "writing a backend message is not stable across a round trip", written);
  }
}

void check_replies(std::string_view text) {
  const auto read = read_backend_reply(text);
  if (!read) return;
  for (const auto format : formats) {
    const auto written = write_backend_reply(format, read.value());
    const auto again = read_backend_reply(written);
    fuzz::require(again.ok(), "a written reply does not read back", written);
    fuzz::require(event_name(again.value()) == event_name(read.value()), "a reply changed its event on a round trip",
                  written);
    fuzz::require(write_backend_reply(format, again.value()) == written,
                  "writing a reply is not stable across a round trip", written);
  }
  // What serve relays to Twilio: Twilio's shape, which Twilio's reader reads back unchanged.
  const auto relayed = serialize(read.value());
  const auto twilio = parse_reply_message(relayed);
  fuzz::require(twilio.ok(), "a relayed reply is not a reply in Twilio's shape", relayed);
  fuzz::require(serialize(twilio.value()) == relayed, "a relayed reply changes when read back", relayed);
}

void check_control(std::string_view text) {
  const auto read = read_call_control(text);
  if (!read || !read.value()) return;
  const auto& decision = *read.value();
  if (const auto* hangup = std::get_if<HangupDecision>(&decision)) {
    fuzz::require(hangup->say.size() <= max_say_bytes, "a hangup's words are over their bound", text);
  }
  if (const auto* transfer = std::get_if<TransferDecision>(&decision)) {
    fuzz::require(is_e164(transfer->to) || is_sip_uri(transfer->to), "a transfer target is neither E.164 nor SIP",
                  text);
  }
  if (const auto* end = std::get_if<EndDecision>(&decision)) {
    std::size_t bytes = 0;
    for (const auto& [key, value] : end->handoff) bytes += key.size() + value.size();
    fuzz::require(end->handoff.size() <= max_handoff_fields && bytes <= max_handoff_bytes,
                  "handoff data is over its bounds", text);
  }
  const auto kept = write_call_decision(decision);
  const auto again = read_call_control(kept);
  fuzz::require(again.ok() && again.value().has_value(), "a kept decision does not read back", kept);
  fuzz::require(write_call_decision(*again.value()) == kept, "a kept decision changes when read back", kept);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return -1;  // --max-message-bytes
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_messages(text);
  check_replies(text);
  check_control(text);
  return 0;
}
