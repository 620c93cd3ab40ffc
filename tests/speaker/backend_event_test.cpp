// The speaker's reading of backend messages: both formats, PCM out, bad input refused.
#include <catch2/catch.hpp>

#include "speaker/backend_event.h"
#include "twilio/backend_protocol.h"
#include "twilio/base64.h"
#include "twilio/mulaw.h"

using namespace callproxy;
using Kind = speaker::BackendEvent::Kind;

TEST_CASE("the speaker decodes media in the simple and the Twilio format alike", "[speaker]") {
  const std::vector<std::uint8_t> codes{0x00, 0x7F, 0x80, 0xFF, 0x10};
  const auto payload = twilio::base64_encode(codes);
  std::vector<std::int16_t> expected(codes.size());
  twilio::mulaw_decode(codes, expected);

  const auto simple = speaker::decode_backend_message(twilio::write_simple_media(payload));
  REQUIRE(simple.ok());
  CHECK(simple.value().kind == Kind::media);
  CHECK(simple.value().pcm == expected);

  const auto twilio_format = speaker::decode_backend_message(
      R"({"event":"media","streamSid":"MZ9","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":")" +
      payload + R"("}})");
  REQUIRE(twilio_format.ok());
  CHECK(twilio_format.value().pcm == expected);
  CHECK(twilio_format.value().stream_sid == "MZ9");
}

TEST_CASE("the speaker recognises control events of both formats", "[speaker]") {
  const auto simple_start = speaker::decode_backend_message(R"({"event":"start","streamSid":"MZ1","callSid":"CA1"})");
  CHECK(simple_start.value().kind == Kind::start);
  CHECK(simple_start.value().stream_sid == "MZ1");  // the speaker names the stream by it
  const auto twilio_start = speaker::decode_backend_message(R"({"event":"start","start":{"streamSid":"MZ2"}})");
  CHECK(twilio_start.value().kind == Kind::start);
  CHECK(twilio_start.value().stream_sid == "MZ2");
  CHECK(speaker::decode_backend_message(R"({"event":"stop"})").value().kind == Kind::stop);
  CHECK(speaker::decode_backend_message(R"({"event":"dtmf","digit":"5"})").value().kind == Kind::dtmf);
  CHECK(speaker::decode_backend_message(R"({"event":"mark","name":"m"})").value().kind == Kind::mark);
  CHECK(speaker::decode_backend_message(R"({"event":"connected","protocol":"Call","version":"1.0.0"})").value().kind ==
        Kind::connected);
}

TEST_CASE("the speaker refuses media that is not base64 and text that is not JSON", "[speaker]") {
  const auto bad_payload = speaker::decode_backend_message(R"({"event":"media","media":"not base64!"})");
  REQUIRE_FALSE(bad_payload.ok());
  CHECK(bad_payload.error() == "media payload is not valid base64");
  CHECK(speaker::decode_backend_message("garbage").error() == "not valid JSON");
  CHECK(speaker::decode_backend_message(R"({"event":"dtmf"})").error() == "field 'digit' is missing");
}
