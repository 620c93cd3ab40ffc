// A bot's control messages: what is a control message, what is refused and why, the bounds, and
// the kept decision read back as it was; and --transfer-allow's patterns.
#include <catch2/catch.hpp>

#include "proxy/media/transfer_allowlist.h"
#include "twilio/call_control.h"

using namespace callproxy;

namespace {

twilio::CallDecision decision_of(std::string_view text) {
  auto read = twilio::read_call_control(text);
  INFO(text);
  REQUIRE(read.ok());
  REQUIRE(read.value().has_value());
  return *read.value();
}

std::string refusal_of(std::string_view text) {
  auto read = twilio::read_call_control(text);
  INFO(text);
  REQUIRE_FALSE(read.ok());
  return read.error();
}

bool not_control(std::string_view text) {
  auto read = twilio::read_call_control(text);
  return read.ok() && !read.value().has_value();
}

}  // namespace

TEST_CASE("control messages: hangup, transfer and end are read, in either backend format", "[call-control]") {
  const auto hangup = decision_of(R"({"event":"hangup"})");
  REQUIRE(std::holds_alternative<twilio::HangupDecision>(hangup));
  CHECK(std::get<twilio::HangupDecision>(hangup).say.empty());
  CHECK(std::get<twilio::HangupDecision>(decision_of(R"({"event":"hangup","say":"Bye <now> & \"then\""})")).say ==
        "Bye <now> & \"then\"");
  // A Twilio-format backend may add the streamSid, as on its other replies.
  CHECK(std::holds_alternative<twilio::HangupDecision>(decision_of(R"({"event":"hangup","streamSid":"MZ1"})")));

  const auto number = std::get<twilio::TransferDecision>(decision_of(R"({"event":"transfer","to":"+15551234567"})"));
  CHECK(number.kind == twilio::TransferDecision::Kind::number);
  CHECK(number.to == "+15551234567");
  const auto sip = std::get<twilio::TransferDecision>(
      decision_of(R"({"event":"transfer","to":"sip:agent@pbx.example.com:5061"})"));
  CHECK(sip.kind == twilio::TransferDecision::Kind::sip);

  const auto end = std::get<twilio::EndDecision>(
      decision_of(R"({"event":"end","handoff":{"intent":"billing","n":42,"vip":true}})"));
  CHECK(end.handoff ==
        std::vector<std::pair<std::string, std::string>>{{"intent", "billing"}, {"n", "42"}, {"vip", "true"}});
  CHECK(std::get<twilio::EndDecision>(decision_of(R"({"event":"end"})")).handoff.empty());

  // What serve keeps reads back as the same decision.
  for (const auto* text : {R"({"event":"hangup","say":"caf\u00e9"})", R"({"event":"transfer","to":"+442071234567"})",
                           R"({"event":"end","handoff":{"a":"x y&z=1","b":"2"}})", R"({"event":"hangup"})"}) {
    const auto kept = twilio::write_call_decision(decision_of(text));
    CHECK(twilio::write_call_decision(decision_of(kept)) == kept);
    CHECK(twilio::decision_name(decision_of(kept)) == twilio::decision_name(decision_of(text)));
  }
}

TEST_CASE("other messages are not control messages: media, marks, clear, unknown events, not JSON", "[call-control]") {
  CHECK(not_control(R"({"event":"media","media":"AAAA"})"));
  CHECK(not_control(R"({"event":"mark","name":"end"})"));  // a mark named "end" is a mark
  CHECK(not_control(R"({"event":"clear"})"));
  CHECK(not_control(R"({"event":"hangupNow"})"));
  CHECK(not_control(R"(not json "hangup")"));
  CHECK(not_control(R"(["hangup"])"));
  CHECK(not_control(R"({"event":7,"say":"hangup"})"));
  CHECK(not_control(std::string(twilio::max_control_message_bytes + 1, ' ') + R"({"event":"media"})"));
}

TEST_CASE("malformed or oversized control messages are refused naming the field", "[call-control]") {
  CHECK(refusal_of(R"({"event":"hangup","say":5})") == "'hangup' message: field 'say' must be a string");
  CHECK(refusal_of(R"({"event":"hangup","say":")" + std::string(twilio::max_say_bytes + 1, 'a') + "\"}")
            .find("field 'say' is over") != std::string::npos);
  CHECK(refusal_of(R"({"event":"hangup","to":"+15551234567"})").find("field 'to' is not one of") != std::string::npos);
  CHECK(refusal_of(R"({"event":"transfer"})") == "'transfer' message: field 'to' is missing");
  for (const auto* to :
       {"15551234567", "+0551234567", "+1555", "+1555123456789012", "+1555-123-4567", "tel:+15551234567",
        "sip:agent@pbx.example.com;transport=tcp", "sip:@pbx.example.com", "sip:a@b@c.example.com",
        "sip:agent@pbx..example.com", "sip:agent@pbx.example.com:0", "sip:agent@pbx.example.com:99999",
        "sip:ag ent@pbx.example.com", "sip:agent@-pbx.example.com"}) {
    INFO(to);
    CHECK(refusal_of(std::string(R"({"event":"transfer","to":")") + to + "\"}").find("field 'to' must be") !=
          std::string::npos);
  }
  CHECK(refusal_of(R"({"event":"end","handoff":"billing"})") == "'end' message: field 'handoff' must be an object");
  CHECK(refusal_of(R"({"event":"end","handoff":{"a":{"b":1}}})") ==
        "'end' message: field 'handoff.a' must be a string, a number or a boolean");
  CHECK(refusal_of(R"({"event":"end","handoff":{"a":null}})").find("handoff.a") != std::string::npos);
  CHECK(refusal_of(R"({"event":"end","handoff":{"1a":"x"}})").find("has a key") != std::string::npos);
  CHECK(refusal_of(R"({"event":"end","handoff":{"a-b":"x"}})").find("has a key") != std::string::npos);
  // Never one of Twilio's own parameters, which all start upper-case.
  CHECK(refusal_of(R"({"event":"end","handoff":{"From":"+15550001111"}})").find("lower-case") != std::string::npos);
  // Too long to be a control message, but naming a control event: refused, not ignored.
  CHECK(refusal_of(std::string(twilio::max_control_message_bytes, ' ') + R"({"event":"hangup"})").find("over") !=
        std::string::npos);
  // ... but a long message of another kind that merely mentions one is not a control message.
  CHECK(not_control(R"({"event":"transcript","status":"end","text":")" +
                    std::string(twilio::max_control_message_bytes, 'a') + "\"}"));
  CHECK(
      refusal_of(R"({"event":"end","handoff":{"a":")" + std::string(twilio::max_handoff_value_bytes + 1, 'x') + "\"}}")
          .find("is over") != std::string::npos);
  std::string many = R"({"event":"end","handoff":{)";
  for (std::size_t i = 0; i <= twilio::max_handoff_fields; ++i)
    many += (i ? "," : "") + ("\"k" + std::to_string(i) + "\":1");
  CHECK(refusal_of(many + "}}").find("over 16 fields") != std::string::npos);
  std::string big = R"({"event":"end","handoff":{)";
  for (int i = 0; i < 5; ++i)
    big += (i ? "," : "") + ("\"k" + std::to_string(i) + "\":\"" + std::string(500, 'v') + "\"");
  CHECK(refusal_of(big + "}}").find("holds over") != std::string::npos);
}

TEST_CASE("transfer patterns (--transfer-allow): exact numbers, prefixes, SIP users and hosts, nothing when empty",
          "[call-control]") {
  proxy::TransferAllowlist none;
  CHECK_FALSE(none.allows("+15551234567"));

  proxy::TransferAllowlist list;
  REQUIRE(list.add("+15551234567").ok());
  REQUIRE(list.add("+44*").ok());
  REQUIRE(list.add("sip:agent@pbx.example.com").ok());
  REQUIRE(list.add("sips:*@secure.example.com:5061").ok());
  CHECK(list.allows("+15551234567"));
  CHECK_FALSE(list.allows("+15551234568"));
  CHECK_FALSE(list.allows("+155512345670"));
  CHECK(list.allows("+442071234567"));
  CHECK_FALSE(list.allows("+19005551234"));  // a premium number nobody allowed
  CHECK(list.allows("sip:agent@pbx.example.com"));
  CHECK(list.allows("sip:agent@PBX.Example.com"));
  CHECK_FALSE(list.allows("sip:boss@pbx.example.com"));
  CHECK_FALSE(list.allows("sips:agent@pbx.example.com"));  // the scheme is part of it
  CHECK(list.allows("sips:anyone@secure.example.com:5061"));
  CHECK_FALSE(list.allows("sips:anyone@secure.example.com"));  // the port too
  CHECK_FALSE(list.allows("sip:agent@pbx.example.com.evil.example"));
  CHECK_FALSE(list.allows("+44"));  // not a number

  proxy::TransferAllowlist any;
  REQUIRE(any.add("+*").ok());
  CHECK(any.allows("+8613800138000"));
  CHECK_FALSE(any.allows("sip:a@b.example.com"));

  for (const auto* bad : {"", "*", "+", "1555*", "+0*", "+1a*", "sip:*", "sip:*@", "sip:a*@pbx.example.com",
                          "tel:+1555", "sip:agent@pbx.example.com;x=1", "+1555**"}) {
    INFO(bad);
    CHECK_FALSE(proxy::transfer_pattern_error(bad).empty());
    CHECK_FALSE(proxy::TransferAllowlist().add(bad).ok());
  }
}
