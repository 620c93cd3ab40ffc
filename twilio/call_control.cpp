#include "twilio/call_control.h"

#include <nlohmann/json.hpp>

#include "core/byte_class.h"
#include "core/json_text.h"
#include "twilio/json_limits.h"

namespace callproxy::twilio {
namespace {

using nlohmann::json;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// A lower-case letter first: Twilio's own request parameters (CallSid, From, Digits, ...) all
// start upper-case, so a handoff field can never pass for one of them.
bool is_handoff_key(std::string_view key) {
  if (key.empty() || key.size() > max_handoff_key_bytes || key.front() < 'a' || key.front() > 'z') return false;
  for (const char c : key) {
    if (!is_alpha(c) && !is_digit(c) && c != '_') return false;
  }
  return true;
}

bool is_host(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.front() == '-' || host.back() == '.') {
    return false;
  }
  for (const char c : host) {
    if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '-') return false;
  }
  return host.find("..") == std::string_view::npos;
}

std::string text_of(const json& value, const std::string& key) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_integer() || value.is_number_unsigned() || value.is_number_float()) return value.dump();
  throw std::invalid_argument("field 'handoff." + key + "' must be a string, a number or a boolean");
}

CallDecision read(const json& root, const std::string& event) {
  for (const auto& [key, value] : root.items()) {
    if (key == "event" || key == "streamSid") continue;
    const bool known = (event == "hangup" && key == "say") || (event == "transfer" && key == "to") ||
                       (event == "end" && key == "handoff");
    if (!known) throw std::invalid_argument("field '" + key + "' is not one of a '" + event + "' message's");
  }
  if (event == "hangup") {
    HangupDecision hangup;
    if (const auto it = root.find("say"); it != root.end()) {
      if (!it->is_string()) throw std::invalid_argument("field 'say' must be a string");
      hangup.say = it->get<std::string>();
      if (hangup.say.size() > max_say_bytes) {
        throw std::invalid_argument("field 'say' is over " + std::to_string(max_say_bytes) + " bytes");
      }
    }
    return hangup;
  }
  if (event == "transfer") {
    const auto it = root.find("to");
    if (it == root.end()) throw std::invalid_argument("field 'to' is missing");
    if (!it->is_string()) throw std::invalid_argument("field 'to' must be a string");
    auto to = it->get<std::string>();
    if (is_e164(to)) return TransferDecision{TransferDecision::Kind::number, std::move(to)};
    if (is_sip_uri(to)) return TransferDecision{TransferDecision::Kind::sip, std::move(to)};
    throw std::invalid_argument("field 'to' must be a +E.164 number or a sip: URI (sip:user@host)");
  }
  EndDecision end;
  const auto it = root.find("handoff");
  if (it == root.end()) return end;
  if (!it->is_object()) throw std::invalid_argument("field 'handoff' must be an object");
  if (it->size() > max_handoff_fields) {
    throw std::invalid_argument("field 'handoff' has over " + std::to_string(max_handoff_fields) + " fields");
  }
  std::size_t bytes = 0;
  for (const auto& [key, value] : it->items()) {
    if (!is_handoff_key(key)) {
      throw std::invalid_argument("field 'handoff' has a key that is not a lower-case letter then up to " +
                                  std::to_string(max_handoff_key_bytes - 1) + " letters, digits or '_'");
    }
    auto text = text_of(value, key);
    if (text.size() > max_handoff_value_bytes) {
      throw std::invalid_argument("field 'handoff." + key + "' is over " + std::to_string(max_handoff_value_bytes) +
                                  " bytes");
    }
    bytes += key.size() + text.size();
    end.handoff.emplace_back(key, std::move(text));
  }
  if (bytes > max_handoff_bytes) {
    throw std::invalid_argument("field 'handoff' holds over " + std::to_string(max_handoff_bytes) + " bytes");
  }
  return end;
}

}  // namespace

std::string_view decision_name(const CallDecision& decision) {
  switch (decision.index()) {
    case 0: return "hangup";
    case 1: return "transfer";
    default: return "end";
  }
}

bool is_e164(std::string_view to) {
  if (to.size() < 8 || to.size() > 16 || to.front() != '+' || to[1] == '0') return false;
  for (const char c : to.substr(1)) {
    if (!is_digit(c)) return false;
  }
  return true;
}

bool is_sip_uri(std::string_view to) {
  if (to.size() > max_transfer_target_bytes) return false;
  std::string_view rest;
  if (to.substr(0, 4) == "sip:") rest = to.substr(4);
  else if (to.substr(0, 5) == "sips:") rest = to.substr(5);
  else return false;
  const auto at = rest.find('@');
  if (at == std::string_view::npos || at == 0) return false;
  for (const char c : rest.substr(0, at)) {
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '.' && c != '_' && c != '~' && c != '-') return false;
  }
  auto host = rest.substr(at + 1);
  if (const auto colon = host.find(':'); colon != std::string_view::npos) {
    const auto port = host.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.front() == '0') return false;
    unsigned value = 0;
    for (const char c : port) {
      if (!is_digit(c)) return false;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) return false;
    host = host.substr(0, colon);
  }
  return is_host(host);
}

Result<std::optional<CallDecision>> read_call_control(std::string_view text) {
  // Cheap refusals first: most replies are media, and a control message is small.
  if (text.find("\"hangup\"") == std::string_view::npos && text.find("\"transfer\"") == std::string_view::npos &&
      text.find("\"end\"") == std::string_view::npos) {
    return std::optional<CallDecision>();
  }
  if (text.size() > max_control_message_bytes) {
    // Refused, not ignored, only when its event is one (a transcript that says "end" is not).
    for (const std::string_view event : {R"("event":"hangup")", R"("event":"transfer")", R"("event":"end")"}) {
      if (text.find(event) != std::string_view::npos) {
        return Error{"a control message over " + std::to_string(max_control_message_bytes) + " bytes"};
      }
    }
    return std::optional<CallDecision>();
  }
  auto parsed = parse_json_bounded(text);
  if (!parsed || !parsed.value().is_object()) return std::optional<CallDecision>();
  const auto& root = parsed.value();
  const auto event = root.find("event");
  if (event == root.end() || !event->is_string()) return std::optional<CallDecision>();
  const auto name = event->get<std::string>();
  if (name != "hangup" && name != "transfer" && name != "end") return std::optional<CallDecision>();
  try {
    return std::optional<CallDecision>(read(root, name));
  } catch (const std::invalid_argument& e) {
    return Error{"'" + name + "' message: " + e.what()};
  }
}

std::string write_call_decision(const CallDecision& decision) {
  json out{{"event", std::string(decision_name(decision))}};
  if (const auto* hangup = std::get_if<HangupDecision>(&decision); hangup && !hangup->say.empty()) {
    out["say"] = hangup->say;
  }
  if (const auto* transfer = std::get_if<TransferDecision>(&decision)) out["to"] = transfer->to;
  if (const auto* end = std::get_if<EndDecision>(&decision); end && !end->handoff.empty()) {
    json handoff = json::object();
    for (const auto& [key, value] : end->handoff) handoff[key] = value;
    out["handoff"] = std::move(handoff);
  }
  return dump_json(out);
}

}  // namespace callproxy::twilio
