#include <catch2/catch.hpp>

#include <regex>

#include "testclient/twilio_stream_writer.h"
#include "twilio/base64.h"
#include "twilio/media_message.h"

using namespace callproxy;

TEST_CASE("call ids look like Twilio's and differ between calls", "[testclient]") {
  std::mt19937_64 random(42);
  const auto a = testclient::make_call_identity(random);
  const auto b = testclient::make_call_identity(random);
  const std::regex shape_ac("AC[0-9a-f]{32}"), shape_ca("CA[0-9a-f]{32}"), shape_mz("MZ[0-9a-f]{32}");
  CHECK(std::regex_match(a.account_sid, shape_ac));
  CHECK(std::regex_match(a.call_sid, shape_ca));
  CHECK(std::regex_match(a.stream_sid, shape_mz));
  CHECK(a.stream_sid != b.stream_sid);
}

TEST_CASE("a written call carries Twilio's counters in order", "[testclient]") {
  std::mt19937_64 random(7);
  testclient::TwilioStreamWriter writer(testclient::make_call_identity(random),
                                        {{"backendHosts", R"(["localhost:8888"])"}});

  const auto connected = twilio::parse_twilio_message(writer.connected());
  REQUIRE(connected.ok());
  CHECK(std::holds_alternative<twilio::ConnectedMessage>(connected.value()));

  const auto start = twilio::parse_twilio_message(writer.start());
  REQUIRE(start.ok());
  const auto& s = std::get<twilio::StartMessage>(start.value());
  CHECK(s.sequence_number == "1");
  CHECK(s.stream_sid == writer.identity().stream_sid);
  CHECK(s.custom_parameters.at("backendHosts") == R"(["localhost:8888"])");
  CHECK(s.tracks == std::vector<std::string>{"inbound"});

  std::vector<std::uint8_t> frame(160);
  for (int i = 0; i < 3; ++i) {
    frame.assign(160, static_cast<std::uint8_t>(i));
    const auto media = twilio::parse_twilio_message(writer.media(frame));
    REQUIRE(media.ok());
    const auto& m = std::get<twilio::MediaMessage>(media.value());
    CHECK(m.sequence_number == std::to_string(i + 2));
    CHECK(m.chunk == std::to_string(i + 1));
    CHECK(m.timestamp == std::to_string(i * 20));
    CHECK(*twilio::base64_decode(m.payload) == frame);
  }
  const auto stop = twilio::parse_twilio_message(writer.stop());
  REQUIRE(stop.ok());
  CHECK(std::get<twilio::StopMessage>(stop.value()).sequence_number == "5");
  CHECK(writer.frames_written() == 3);
}
