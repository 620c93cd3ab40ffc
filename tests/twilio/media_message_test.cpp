#include <catch2/catch.hpp>

#include "twilio/media_message.h"

using namespace callproxy::twilio;
using callproxy::Result;

namespace {

// Messages as Twilio documents them.
constexpr const char* twilio_start = R"({"event":"start","sequenceNumber":"1","start":{
  "accountSid":"AC11111111111111111111111111111111","streamSid":"MZ22222222222222222222222222222222",
  "callSid":"CA33333333333333333333333333333333","tracks":["inbound","outbound"],
  "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},
  "customParameters":{"backendHosts":"[\"10.0.0.5:8900\"]","executionId":"FN123"}},
  "streamSid":"MZ22222222222222222222222222222222"})";
constexpr const char* twilio_media = R"({"event":"media","sequenceNumber":"3","media":{"track":"inbound",
  "chunk":"1","timestamp":"5","payload":"no+JhoaJjpz/"},"streamSid":"MZ2222"})";

template <class T>
const T& as(const Result<TwilioMessage>& r) {
  REQUIRE(r.ok());
  REQUIRE(std::holds_alternative<T>(r.value()));
  return std::get<T>(r.value());
}

}  // namespace

TEST_CASE("Twilio's start message parses with its own types", "[messages]") {
  const auto parsed = parse_twilio_message(twilio_start);
  const auto& start = as<StartMessage>(parsed);
  CHECK(start.sequence_number == "1");
  CHECK(start.stream_sid == "MZ22222222222222222222222222222222");
  CHECK(start.account_sid == "AC11111111111111111111111111111111");
  CHECK(start.call_sid == "CA33333333333333333333333333333333");
  CHECK(start.tracks == std::vector<std::string>{"inbound", "outbound"});
  CHECK(start.media_format.encoding == "audio/x-mulaw");
  CHECK(start.media_format.sample_rate == 8000);
  CHECK(start.media_format.channels == 1);
  CHECK(start.custom_parameters.at("backendHosts") == R"(["10.0.0.5:8900"])");
  CHECK(start.custom_parameters.at("executionId") == "FN123");
  CHECK(event_name(parsed.value()) == "start");
}

TEST_CASE("Twilio's media, dtmf, mark, stop and connected messages parse", "[messages]") {
  const auto media = parse_twilio_message(twilio_media);
  CHECK(as<MediaMessage>(media).chunk == "1");
  CHECK(as<MediaMessage>(media).timestamp == "5");
  CHECK(as<MediaMessage>(media).track == "inbound");
  CHECK(as<MediaMessage>(media).payload == "no+JhoaJjpz/");
  CHECK(as<MediaMessage>(media).stream_sid == "MZ2222");

  const auto dtmf = parse_twilio_message(
      R"({"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}})");
  CHECK(as<DtmfMessage>(dtmf).digit == "1");
  CHECK(as<DtmfMessage>(dtmf).track == "inbound_track");

  const auto mark = parse_twilio_message(
      R"({"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"my label"}})");
  CHECK(as<MarkMessage>(mark).name == "my label");

  const auto stop = parse_twilio_message(
      R"({"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"MZ1"})");
  CHECK(as<StopMessage>(stop).call_sid == "CA1");
  CHECK(as<StopMessage>(stop).account_sid == "AC1");

  const auto connected = parse_twilio_message(R"({"event":"connected","protocol":"Call","version":"1.0.0"})");
  CHECK(as<ConnectedMessage>(connected).protocol == "Call");
}

TEST_CASE("harmless shape differences from the Node test client are accepted", "[messages]") {
  const auto start = parse_twilio_message(
      R"({"event":"start","start":{"streamSid":"MZ1","tracks":"inbound","customParameters":{}}})");
  CHECK(as<StartMessage>(start).tracks == std::vector<std::string>{"inbound"});
  const auto media = parse_twilio_message(
      R"({"event":"media","sequenceNumber":7,"media":{"payload":"AAAA","chunk":2}})");
  CHECK(as<MediaMessage>(media).sequence_number == "7");
  CHECK(as<MediaMessage>(media).chunk == "2");
}

TEST_CASE("unknown events are reported as such, not as errors", "[messages]") {
  const auto parsed = parse_twilio_message(R"({"event":"transcription","text":"hi"})");
  CHECK(as<UnknownMessage>(parsed).event == "transcription");
}

TEST_CASE("malformed messages give an error naming the problem", "[messages]") {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"{not json", "not valid JSON"},
      {"", "not valid JSON"},
      {"[1,2]", "message is not a JSON object"},
      {R"({"sequenceNumber":"1"})", "field 'event' is missing"},
      {R"({"event":5})", "field 'event' must be a string"},
      {R"({"event":"media","media":{"chunk":"1"}})", "field 'media.payload' is missing"},
      {R"({"event":"media","media":{"payload":17}})", "field 'media.payload' must be a string"},
      {R"({"event":"media","media":"AAAA"})", "field 'media' must be an object"},
      {R"({"event":"media","sequenceNumber":-1,"media":{"payload":"AA=="}})",
       "field 'sequenceNumber' must be a string"},
      {R"({"event":"start"})", "field 'start' is missing"},
      {R"({"event":"start","start":{}})", "field 'streamSid' is missing"},
      {R"({"event":"start","start":{"streamSid":"MZ","tracks":[1]}})", "field 'start.tracks' must hold strings"},
      {R"({"event":"start","start":{"streamSid":"MZ","customParameters":{"a":1}}})",
       "field 'start.customParameters.a' must be a string"},
      {R"({"event":"start","start":{"streamSid":"MZ","mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":"8000","channels":1}}})",
       "field 'start.mediaFormat.sampleRate' must be a positive integer"},
      {R"({"event":"dtmf","dtmf":{}})", "field 'dtmf.digit' is missing"},
      {R"({"event":"mark","mark":"x"})", "field 'mark' must be an object"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto parsed = parse_twilio_message(c.text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error() == c.error);
  }
}

TEST_CASE("serialised Twilio messages parse back to the same values", "[messages]") {
  const auto original = parse_twilio_message(twilio_start);
  const auto again = parse_twilio_message(serialize(original.value()));
  const auto& a = as<StartMessage>(original);
  const auto& b = as<StartMessage>(again);
  CHECK(a.stream_sid == b.stream_sid);
  CHECK(a.tracks == b.tracks);
  CHECK(a.custom_parameters == b.custom_parameters);
  CHECK(a.media_format.sample_rate == b.media_format.sample_rate);

  const auto media = parse_twilio_message(twilio_media);
  const auto media_again = parse_twilio_message(serialize(media.value()));
  CHECK(as<MediaMessage>(media_again).payload == "no+JhoaJjpz/");
  CHECK(as<MediaMessage>(media_again).chunk == "1");
}

TEST_CASE("replies to Twilio serialise in Twilio's shape", "[messages]") {
  CHECK(serialize(ReplyMessage{ReplyMedia{"MZ1", "AAAA"}}) ==
        R"({"event":"media","media":{"payload":"AAAA"},"streamSid":"MZ1"})");
  CHECK(serialize(ReplyMessage{ReplyMark{"MZ1", "end"}}) ==
        R"({"event":"mark","mark":{"name":"end"},"streamSid":"MZ1"})");
  CHECK(serialize(ReplyMessage{ReplyClear{"MZ1"}}) == R"({"event":"clear","streamSid":"MZ1"})");
}

TEST_CASE("replies parse in Twilio's shape only", "[messages]") {
  const auto twilio_shape = parse_reply_message(R"({"event":"media","streamSid":"MZ1","media":{"payload":"AAAA"}})");
  REQUIRE(twilio_shape.ok());
  CHECK(std::get<ReplyMedia>(twilio_shape.value()).payload == "AAAA");
  CHECK(std::get<ReplyMedia>(twilio_shape.value()).stream_sid == "MZ1");

  // The simple backend shape is the backend protocol's to read (backend_protocol_test).
  CHECK(parse_reply_message(R"({"event":"media","media":"BBBB"})").error() == "field 'media' must be an object");
  CHECK(parse_reply_message(R"({"event":"mark","name":"m"})").error() == "field 'mark' is missing");

  const auto clear = parse_reply_message(R"({"event":"clear"})");
  REQUIRE(clear.ok());
  CHECK(event_name(clear.value()) == "clear");

  const auto mark = parse_reply_message(R"({"event":"mark","mark":{"name":"m1"}})");
  REQUIRE(mark.ok());
  CHECK(std::get<ReplyMark>(mark.value()).name == "m1");

  CHECK(parse_reply_message(R"({"event":"media","media":5})").error() == "field 'media' must be an object");
  CHECK(parse_reply_message(R"({"event":"mark"})").error() == "field 'mark' is missing");
}
