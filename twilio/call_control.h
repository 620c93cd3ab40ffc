// A bot steering its call (docs/call-control.md): the control messages a primary backend sends,
// checked and bounded here, and the decision serve keeps for the call until Twilio asks what
// comes after the stream.
//   {"event":"hangup"}  {"event":"hangup","say":"Thank you for calling."}
//   {"event":"transfer","to":"+15551234567"}  {"event":"transfer","to":"sip:agent@pbx.example.com"}
//   {"event":"end","handoff":{"intent":"billing","account":"1234"}}
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/result.h"

namespace callproxy::twilio {

// What one decision may carry.
inline constexpr std::size_t max_say_bytes = 1024;
inline constexpr std::size_t max_transfer_target_bytes = 256;
inline constexpr std::size_t max_handoff_fields = 16;
inline constexpr std::size_t max_handoff_key_bytes = 64;
inline constexpr std::size_t max_handoff_value_bytes = 512;
inline constexpr std::size_t max_handoff_bytes = 2048;  // keys and values together, before encoding
// Longer is not a control message (nor any reply serve takes apart to find one).
inline constexpr std::size_t max_control_message_bytes = 8192;

struct HangupDecision {
  std::string say;  // empty: hang up without a word
};
struct TransferDecision {
  enum class Kind { number, sip };
  Kind kind = Kind::number;
  std::string to;  // +E.164, or a sip:/sips: URI
};
struct EndDecision {
  std::vector<std::pair<std::string, std::string>> handoff;  // sorted by key
};
using CallDecision = std::variant<HangupDecision, TransferDecision, EndDecision>;

std::string_view decision_name(const CallDecision& decision);  // "hangup", "transfer", "end"

// nullopt: not a control event (serve handles or ignores it as before). An error: a control
// event that is malformed or over a bound, naming the field.
Result<std::optional<CallDecision>> read_call_control(std::string_view text);

// The decision as serve keeps it (the control message's own shape, canonical): read back by
// read_call_control.
std::string write_call_decision(const CallDecision& decision);

// "+" and 7 to 15 digits, the first not 0: an E.164 number.
bool is_e164(std::string_view to);
// sip:user@host or sips:user@host[:port]; user of unreserved characters and + . _ ~ -; host a
// name or an IPv4 address. No parameters, headers or a second @: what <Dial><Sip> gets is plain.
bool is_sip_uri(std::string_view to);

}  // namespace callproxy::twilio
