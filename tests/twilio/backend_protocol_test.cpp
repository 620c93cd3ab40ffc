// The backend protocol: exact wire format of the simple writers, round trips through the reader
// in both formats and both directions, hostile strings, and errors that name the field.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <random>

#include "core/json_text.h"
#include "twilio/backend_protocol.h"
#include "twilio/base64.h"

using namespace callproxy;
using namespace callproxy::twilio;
using nlohmann::json;

namespace {

StartMessage sample_start() {
  StartMessage m;
  m.sequence_number = "1";
  m.stream_sid = "MZ1";
  m.account_sid = "AC1";
  m.call_sid = "CA1";
  m.tracks = {"inbound"};
  m.custom_parameters = {{"backendHosts", R"(["10.0.0.5:8900"])"}, {"pin", "1234"}};
  return m;
}

// Copies out, so that `const auto& x = as<T>(read(...))` outlives the Result.
template <class T>
T as(const Result<BackendMessage>& r, BackendFormat format) {
  INFO((r.ok() ? "" : r.error()));
  REQUIRE(r.ok());
  CHECK(r.value().format == format);
  REQUIRE(std::holds_alternative<T>(r.value().message));
  return std::get<T>(r.value().message);
}

template <class T>
T as(const Result<ReplyMessage>& r) {
  INFO((r.ok() ? "" : r.error()));
  REQUIRE(r.ok());
  REQUIRE(std::holds_alternative<T>(r.value()));
  return std::get<T>(r.value());
}

// What a string becomes on the wire: itself when it is UTF-8, else with U+FFFD for what is not
// (core/json_text.h's dump_json, the program's one lenient dump).
std::string on_the_wire(const std::string& s) { return json::parse(dump_json(json(s))).get<std::string>(); }

std::string hex(const std::string& s) {
  std::string out;
  char byte[4];
  for (const unsigned char c : s) {
    std::snprintf(byte, sizeof byte, "%02x ", c);
    out += byte;
  }
  return out;
}

// Valid UTF-8 made of what breaks hand-made JSON: quotes, backslashes, control bytes, a field
// injection, multi-byte characters.
std::string hostile_utf8(std::mt19937& random) {
  static const std::vector<std::string> pieces{"\"",
                                               "\\",
                                               "/",
                                               "{",
                                               "}",
                                               "[",
                                               "]",
                                               ",",
                                               ":",
                                               "A",
                                               "z",
                                               "0",
                                               "+",
                                               "=",
                                               " ",
                                               "\x7f",
                                               std::string(1, '\0'),
                                               "\x01",
                                               "\x08",
                                               "\t",
                                               "\n",
                                               "\x0c",
                                               "\r",
                                               "\x1f",
                                               "\xc3\xa9",
                                               "\xe2\x82\xac",
                                               "\xf0\x9f\x98\x80",
                                               "\xef\xbf\xbd",
                                               R"(A","event":"stop)",
                                               R"("}{"event":"clear)",
                                               "\\u0000"};
  std::string out;
  const auto length = std::uniform_int_distribution<int>(0, 24)(random);
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  for (int i = 0; i < length; ++i) out += pieces[pick(random)];
  return out;
}

// Any bytes at all, most of them not UTF-8.
std::string random_bytes(std::mt19937& random) {
  std::string out(std::uniform_int_distribution<std::size_t>(0, 40)(random), '\0');
  for (auto& c : out) c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(random));
  return out;
}

// Every writer, given `s` for each of its strings: the output is JSON whose fields are `s` as
// it goes on the wire, and the reader gives the same back.
void check_every_writer(const std::string& s) {
  INFO("input bytes: " << hex(s));
  const std::string w = on_the_wire(s);

  const auto media = write_simple_media(s);
  REQUIRE(json::accept(media));
  CHECK(json::parse(media) == json{{"event", "media"}, {"media", w}});
  CHECK(as<MediaMessage>(read_backend_message(media), BackendFormat::simple).payload == w);
  // Byte for byte what nlohmann writes for the same object (its keys happen to sort this way).
  CHECK(media == dump_json(json{{"event", "media"}, {"media", s}}));

  const auto dtmf = write_simple_dtmf(s);
  REQUIRE(json::accept(dtmf));
  CHECK(json::parse(dtmf) == json{{"event", "dtmf"}, {"digit", w}});
  CHECK(as<DtmfMessage>(read_backend_message(dtmf), BackendFormat::simple).digit == w);
  CHECK(dtmf == R"({"event":"dtmf","digit":)" + dump_json(json(s)) + "}");  // what serve wrote before

  const auto mark = write_simple_mark(s);
  REQUIRE(json::accept(mark));
  CHECK(json::parse(mark) == json{{"event", "mark"}, {"name", w}});
  CHECK(as<MarkMessage>(read_backend_message(mark), BackendFormat::simple).name == w);
  CHECK(mark == R"({"event":"mark","name":)" + dump_json(json(s)) + "}");
  CHECK(as<ReplyMark>(read_backend_reply(mark)).name == w);

  StartMessage start;
  start.stream_sid = start.account_sid = start.call_sid = start.media_format.encoding = s;
  start.tracks = {s};
  start.custom_parameters = {{s, s}};
  const auto simple_start = write_simple_start(start);
  REQUIRE(json::accept(simple_start));
  const json expected_start{{"event", "start"},
                            {"streamSid", w},
                            {"callSid", w},
                            {"accountSid", w},
                            {"tracks", {w}},
                            {"customParameters", {{w, w}}},
                            {"mediaFormat", {{"encoding", w}, {"sampleRate", 8000}, {"channels", 1}}}};
  CHECK(json::parse(simple_start) == expected_start);
  const auto& read_start = as<StartMessage>(read_backend_message(simple_start), BackendFormat::simple);
  CHECK(read_start.stream_sid == w);
  CHECK(read_start.call_sid == w);
  CHECK(read_start.account_sid == w);
  CHECK(read_start.tracks == std::vector<std::string>{w});
  CHECK(read_start.custom_parameters == std::map<std::string, std::string>{{w, w}});
  CHECK(read_start.media_format.encoding == w);

  // The twilio format: Twilio's own messages, written by twilio/media_message.
  MediaMessage twilio_media{s, s, s, s, s, s};
  const auto passthrough = write_backend_message(BackendFormat::twilio, twilio_media);
  REQUIRE(json::accept(passthrough));
  CHECK(json::parse(passthrough).at("media").at("payload") == w);
  const auto& read_media = as<MediaMessage>(read_backend_message(passthrough), BackendFormat::twilio);
  CHECK(read_media.payload == w);
  CHECK(read_media.stream_sid == w);
  CHECK(read_media.track == w);

  const auto twilio_mark = write_backend_message(BackendFormat::twilio, MarkMessage{s, s, s});
  CHECK(as<MarkMessage>(read_backend_message(twilio_mark), BackendFormat::twilio).name == w);
  const auto twilio_dtmf = write_backend_message(BackendFormat::twilio, DtmfMessage{s, s, s, s});
  CHECK(as<DtmfMessage>(read_backend_message(twilio_dtmf), BackendFormat::twilio).digit == w);

  // Replies, both shapes.
  const auto& simple_reply = as<ReplyMedia>(
      read_backend_reply(write_backend_reply(BackendFormat::simple, ReplyMedia{s, s})));
  CHECK(simple_reply.payload == w);
  CHECK(simple_reply.stream_sid.empty());  // the simple shape carries none
  const auto& twilio_reply = as<ReplyMedia>(
      read_backend_reply(write_backend_reply(BackendFormat::twilio, ReplyMedia{s, s})));
  CHECK(twilio_reply.payload == w);
  CHECK(twilio_reply.stream_sid == w);
  CHECK(as<ReplyMark>(read_backend_reply(write_backend_reply(BackendFormat::twilio, ReplyMark{s, s}))).name == w);
}

}  // namespace

TEST_CASE("the simple writers write the Node service's format byte for byte", "[backend-protocol]") {
  CHECK(write_simple_media("AAAA/+9=") == R"({"event":"media","media":"AAAA/+9="})");
  CHECK(write_simple_dtmf("5") == R"({"event":"dtmf","digit":"5"})");
  CHECK(write_simple_mark("greeting done") == R"({"event":"mark","name":"greeting done"})");
  CHECK(write_simple_stop() == R"({"event":"stop"})");
  CHECK(write_simple_clear() == R"({"event":"clear"})");
  // The start as serve has always written it: nlohmann's sorted keys, compact.
  CHECK(write_simple_start(sample_start()) ==
        R"({"accountSid":"AC1","callSid":"CA1","customParameters":{"backendHosts":"[\"10.0.0.5:8900\"]","pin":"1234"},)"
        R"("event":"start","mediaFormat":{"channels":1,"encoding":"audio/x-mulaw","sampleRate":8000},)"
        R"("streamSid":"MZ1","tracks":["inbound"]})");
}

TEST_CASE("the generic writers pick the simple writer or Twilio's serialisation", "[backend-protocol]") {
  const auto start = sample_start();
  CHECK(write_backend_message(BackendFormat::simple, start) == write_simple_start(start));
  CHECK(write_backend_message(BackendFormat::twilio, start) == serialize(TwilioMessage{start}));
  CHECK(write_backend_message(BackendFormat::simple, MediaMessage{"2", "MZ1", "inbound", "1", "0", "AAAA"}) ==
        R"({"event":"media","media":"AAAA"})");
  CHECK(write_backend_message(BackendFormat::simple, DtmfMessage{"3", "MZ1", "inbound_track", "#"}) ==
        R"({"event":"dtmf","digit":"#"})");
  CHECK(write_backend_message(BackendFormat::simple, MarkMessage{"4", "MZ1", "m"}) == R"({"event":"mark","name":"m"})");
  CHECK(write_backend_message(BackendFormat::simple, StopMessage{"5", "MZ1", "AC1", "CA1"}) == R"({"event":"stop"})");
  CHECK(write_backend_message(BackendFormat::twilio, StopMessage{{}, "MZ1", {}, {}}) ==
        R"({"event":"stop","sequenceNumber":"","stop":{"accountSid":"","callSid":""},"streamSid":"MZ1"})");
  // The simple format has no connected: Twilio's, flat already, stands in.
  CHECK(write_backend_message(BackendFormat::simple, ConnectedMessage{}) ==
        R"({"event":"connected","protocol":"Call","version":"1.0.0"})");

  CHECK(write_backend_reply(BackendFormat::simple, ReplyMedia{"MZ1", "AAAA"}) == R"({"event":"media","media":"AAAA"})");
  CHECK(write_backend_reply(BackendFormat::simple, ReplyMark{"MZ1", "m"}) == R"({"event":"mark","name":"m"})");
  CHECK(write_backend_reply(BackendFormat::simple, ReplyClear{"MZ1"}) == R"({"event":"clear"})");
  CHECK(write_backend_reply(BackendFormat::twilio, ReplyMedia{"MZ1", "AAAA"}) ==
        R"({"event":"media","media":{"payload":"AAAA"},"streamSid":"MZ1"})");
}

TEST_CASE("write_simple_media replaces what the caller's buffer held", "[backend-protocol]") {
  std::string buffer = "left over from before";
  write_simple_media(buffer, "AAAA");
  CHECK(buffer == R"({"event":"media","media":"AAAA"})");
  write_simple_media(buffer, "BB==");
  CHECK(buffer == R"({"event":"media","media":"BB=="})");
}

TEST_CASE("simple messages read back as written", "[backend-protocol]") {
  const auto start = sample_start();
  const auto& read_start = as<StartMessage>(read_backend_message(write_simple_start(start)), BackendFormat::simple);
  CHECK(read_start.stream_sid == start.stream_sid);
  CHECK(read_start.call_sid == start.call_sid);
  CHECK(read_start.account_sid == start.account_sid);
  CHECK(read_start.tracks == start.tracks);
  CHECK(read_start.custom_parameters == start.custom_parameters);
  CHECK(read_start.media_format.sample_rate == 8000);
  CHECK(read_start.sequence_number.empty());  // the simple format has no counters

  const auto payload = base64_encode(std::string_view("\x00\x7f\x80\xff", 4));
  CHECK(as<MediaMessage>(read_backend_message(write_simple_media(payload)), BackendFormat::simple).payload == payload);
  CHECK(as<DtmfMessage>(read_backend_message(write_simple_dtmf("9")), BackendFormat::simple).digit == "9");
  CHECK(as<MarkMessage>(read_backend_message(write_simple_mark("m1")), BackendFormat::simple).name == "m1");
  CHECK(as<StopMessage>(read_backend_message(write_simple_stop()), BackendFormat::simple).stream_sid.empty());
  // A streamSid on a flat message is read too (some backends' peers add one).
  CHECK(as<StopMessage>(read_backend_message(R"({"event":"stop","streamSid":"MZ7"})"), BackendFormat::simple)
            .stream_sid == "MZ7");
}

TEST_CASE("twilio-format messages read back as written", "[backend-protocol]") {
  const auto start = sample_start();
  const auto& read_start = as<StartMessage>(read_backend_message(write_backend_message(BackendFormat::twilio, start)),
                                            BackendFormat::twilio);
  CHECK(read_start.sequence_number == "1");
  CHECK(read_start.stream_sid == "MZ1");
  CHECK(read_start.custom_parameters == start.custom_parameters);

  const auto& media = as<MediaMessage>(
      read_backend_message(
          write_backend_message(BackendFormat::twilio, MediaMessage{"2", "MZ1", "inbound", "1", "20", "AAAA"})),
      BackendFormat::twilio);
  CHECK(media.payload == "AAAA");
  CHECK(media.chunk == "1");
  CHECK(media.timestamp == "20");
  CHECK(as<DtmfMessage>(read_backend_message(write_backend_message(BackendFormat::twilio,
                                                                   DtmfMessage{"3", "MZ1", "inbound_track", "7"})),
                        BackendFormat::twilio)
            .digit == "7");
  CHECK(
      as<MarkMessage>(read_backend_message(write_backend_message(BackendFormat::twilio, MarkMessage{"4", "MZ1", "m"})),
                      BackendFormat::twilio)
          .name == "m");
  const auto& stop = as<StopMessage>(
      read_backend_message(write_backend_message(BackendFormat::twilio, StopMessage{"5", "MZ1", "AC1", "CA1"})),
      BackendFormat::twilio);
  CHECK(stop.call_sid == "CA1");
  CHECK(as<ConnectedMessage>(read_backend_message(write_backend_message(BackendFormat::twilio, ConnectedMessage{})),
                             BackendFormat::twilio)
            .protocol == "Call");
  // Twilio adds events: a backend sees them as unknown, not as errors.
  CHECK(as<UnknownMessage>(read_backend_message(R"({"event":"transcription","text":"hi"})"), BackendFormat::twilio)
            .event == "transcription");
}

TEST_CASE("replies read in both shapes and round-trip through their writers", "[backend-protocol]") {
  const auto& twilio_shape = as<ReplyMedia>(
      read_backend_reply(R"({"event":"media","streamSid":"MZ1","media":{"payload":"AAAA"}})"));
  CHECK(twilio_shape.payload == "AAAA");
  CHECK(twilio_shape.stream_sid == "MZ1");
  const auto& simple_shape = as<ReplyMedia>(read_backend_reply(R"({"event":"media","media":"BBBB"})"));
  CHECK(simple_shape.payload == "BBBB");
  CHECK(simple_shape.stream_sid.empty());
  CHECK(as<ReplyMark>(read_backend_reply(R"({"event":"mark","mark":{"name":"m1"}})")).name == "m1");
  CHECK(as<ReplyMark>(read_backend_reply(R"({"event":"mark","name":"m2"})")).name == "m2");
  CHECK(as<ReplyClear>(read_backend_reply(R"({"event":"clear"})")).stream_sid.empty());
  CHECK(as<UnknownMessage>(read_backend_reply(R"({"event":"ping"})")).event == "ping");

  for (const auto format : {BackendFormat::simple, BackendFormat::twilio}) {
    INFO((format == BackendFormat::simple ? "simple" : "twilio"));
    CHECK(as<ReplyMedia>(read_backend_reply(write_backend_reply(format, ReplyMedia{"MZ1", "CCCC"}))).payload == "CCCC");
    CHECK(as<ReplyMark>(read_backend_reply(write_backend_reply(format, ReplyMark{"MZ1", "end"}))).name == "end");
    CHECK(
        std::holds_alternative<ReplyClear>(read_backend_reply(write_backend_reply(format, ReplyClear{"MZ1"})).value()));
  }
}

TEST_CASE("hostile strings stay inside their field in every writer", "[backend-protocol]") {
  // The payload that used to end a call early, spliced into serve's media message.
  const auto injected = write_simple_media(R"(A","event":"stop)");
  CHECK(injected == R"({"event":"media","media":"A\",\"event\":\"stop"})");
  CHECK(json::parse(injected).at("event") == "media");
  CHECK(write_simple_mark("a\nb\x01") == R"({"event":"mark","name":"a\nb\u0001"})");
  CHECK(write_simple_dtmf("\xff") == "{\"event\":\"dtmf\",\"digit\":\"\xef\xbf\xbd\"}");  // U+FFFD

  for (const std::string& s :
       {std::string(), std::string("\0", 1), std::string(R"(A","event":"stop)"), std::string("\\"),
        std::string("\"\"\""), std::string("\x01\x1f\x7f"), std::string("\xc3\xa9\xe2\x82\xac"),
        std::string("\xff\xfe"), std::string("\xe2\x82"), std::string("a\xc3")}) {
    check_every_writer(s);
  }
}

TEST_CASE("random strings through every writer come back as they went in", "[backend-protocol][property]") {
  const auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 random(seed);
  for (int i = 0; i < 300; ++i) {
    const auto text = hostile_utf8(random);
    REQUIRE(on_the_wire(text) == text);  // valid UTF-8 goes on the wire unchanged
    check_every_writer(text);
    check_every_writer(random_bytes(random));
  }
}

TEST_CASE("bad messages to a backend are refused naming the field", "[backend-protocol][bad-input]") {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"garbage", "not valid JSON"},
      {"[1]", "message is not a JSON object"},
      {R"({"media":"AAAA"})", "field 'event' is missing"},
      {R"({"event":5})", "field 'event' must be a string"},
      {R"({"event":"media"})", "field 'media' is missing"},
      {R"({"event":"media","media":7})", "field 'media' must be an object or a string"},
      {R"({"event":"media","media":{}})", "field 'media.payload' is missing"},
      {R"({"event":"start","callSid":"CA1"})", "field 'streamSid' is missing"},
      {R"({"event":"start","streamSid":"MZ","tracks":[1]})", "field 'tracks' must hold strings"},
      {R"({"event":"start","streamSid":"MZ","customParameters":{"a":1}})",
       "field 'customParameters.a' must be a string"},
      {R"({"event":"start","streamSid":"MZ","mediaFormat":{"encoding":"x","sampleRate":0,"channels":1}})",
       "field 'mediaFormat.sampleRate' must be a positive integer"},
      {R"({"event":"start","start":{"callSid":"CA1"}})", "field 'streamSid' is missing"},
      {R"({"event":"start","start":{"streamSid":"MZ","tracks":[1]}})", "field 'start.tracks' must hold strings"},
      {R"({"event":"dtmf"})", "field 'digit' is missing"},
      {R"({"event":"dtmf","digit":5})", "field 'digit' must be a string"},
      {R"({"event":"dtmf","dtmf":"5"})", "field 'dtmf' must be an object"},
      {R"({"event":"dtmf","dtmf":{}})", "field 'dtmf.digit' is missing"},
      {R"({"event":"mark","name":null})", "field 'name' must be a string"},
      {R"({"event":"stop","streamSid":1})", "field 'streamSid' must be a string"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto read = read_backend_message(c.text);
    REQUIRE_FALSE(read.ok());
    CHECK(read.error() == c.error);
  }
}

TEST_CASE("bad replies are refused naming the field", "[backend-protocol][bad-input]") {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"{oops", "not valid JSON"},
      {R"("media")", "message is not a JSON object"},
      {R"({"event":"media","media":5})", "field 'media' must be an object or a string"},
      {R"({"event":"media","media":{"payload":1}})", "field 'media.payload' must be a string"},
      {R"({"event":"mark"})", "field 'mark' is missing"},
      {R"({"event":"mark","name":1})", "field 'name' must be a string"},
      {R"({"event":"mark","mark":"x"})", "field 'mark' must be an object"},
      {R"({"event":"clear","streamSid":[]})", "field 'streamSid' must be a string"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto read = read_backend_reply(c.text);
    REQUIRE_FALSE(read.ok());
    CHECK(read.error() == c.error);
  }
}
