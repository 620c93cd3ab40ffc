#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "proxy/media/audio_feeds.h"
#include "twilio/base64.h"
#include "twilio/media_scan.h"

using namespace callproxy;
using nlohmann::json;

namespace {

audio::AudioShape shape(const char* options) { return audio::parse_audio_options(options).value(); }

// A frame of Twilio's exactly as it sends them (its payload found in the text by the fast path).
const std::string mulaw_frame(160, '\x55');
const std::string payload = twilio::base64_encode(mulaw_frame);
const std::string twilio_text =
    R"({"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"3","timestamp":"60","payload":")" +
    payload + R"("},"streamSid":"MZ1"})";

std::string_view payload_in_text() { return std::string_view(twilio_text).substr(twilio_text.find(payload), payload.size()); }

twilio::StartMessage start_message() {
  twilio::StartMessage start;
  start.stream_sid = "MZ1";
  start.call_sid = "CA1";
  start.account_sid = "AC1";
  start.tracks = {"inbound"};
  start.custom_parameters = {{"streamToken", "secret-token"}, {"caller", "+1555"}};
  return start;
}

}  // namespace

TEST_CASE("feed 0 is Twilio's own frame, unconverted, in either backend format", "[media][shapes]") {
  proxy::AudioFeeds twilio_format(twilio::BackendFormat::twilio);
  twilio_format.on_media(payload_in_text(), twilio_text);
  CHECK(twilio_format.frame(0).text() == twilio_text);

  proxy::AudioFeeds simple(twilio::BackendFormat::simple);
  simple.on_media(payload_in_text(), twilio_text);
  CHECK(simple.frame(0).text() == twilio::write_simple_media(payload));
}

TEST_CASE("each distinct shape is one feed, and feeds of the same audio share one conversion", "[media][shapes]") {
  proxy::AudioFeeds feeds(twilio::BackendFormat::simple);
  CHECK(feeds.feed_for(audio::AudioShape{}) == 0);
  const auto json16 = feeds.feed_for(shape("audio=pcm16@16000"));
  const auto binary16 = feeds.feed_for(shape("audio=pcm16@16000&frames=binary"));
  const auto binary_mulaw = feeds.feed_for(shape("frames=binary"));
  CHECK(feeds.feed_for(shape("frames=binary&audio=pcm16@16000")) == binary16);
  CHECK(feeds.size() == 4);
  CHECK(json16 != binary16);

  feeds.on_media(payload_in_text(), twilio_text);
  CHECK(feeds.frame(binary16).size() < 640);  // the first frame is short by the resampler's 3 ms
  feeds.on_media(payload_in_text(), twilio_text);
  // Binary: the raw shape bytes; JSON: the same bytes in base64.
  const auto& raw = feeds.frame(binary16).text();
  CHECK(feeds.binary(binary16));
  CHECK(raw.size() == 640);
  const auto message = json::parse(feeds.frame(json16).text());
  CHECK(message.at("event") == "media");
  CHECK(message.at("media").get<std::string>() == twilio::base64_encode(raw));
  // mu-law in binary frames is Twilio's bytes as they came.
  CHECK(feeds.frame(binary_mulaw).text() == mulaw_frame);
}

TEST_CASE("in Twilio's format a shaped frame is Twilio's message with only the payload replaced", "[media][shapes]") {
  proxy::AudioFeeds feeds(twilio::BackendFormat::twilio);
  const auto wide = feeds.feed_for(shape("audio=pcm16@24000"));
  for (const bool fast_path : {true, false}) {
    INFO((fast_path ? "payload found in the text" : "payload elsewhere (an escaped message)"));
    const std::string copy = payload;  // not inside the text: the message is parsed instead
    feeds.on_media(fast_path ? payload_in_text() : std::string_view(copy), twilio_text);
    const auto message = json::parse(feeds.frame(wide).text());
    const auto original = json::parse(twilio_text);
    CHECK(message.at("sequenceNumber") == original.at("sequenceNumber"));
    CHECK(message.at("streamSid") == original.at("streamSid"));
    CHECK(message.at("media").at("track") == "inbound");
    CHECK(message.at("media").at("chunk") == "3");
    CHECK(message.at("media").at("timestamp") == "60");
    const auto bytes = twilio::base64_decode(message.at("media").at("payload").get<std::string>());
    REQUIRE(bytes);
    CHECK(bytes->size() % 2 == 0);
    CHECK(bytes->size() <= 960);
  }
}

TEST_CASE("each feed's start names its shape and never carries the stream token", "[media][shapes]") {
  const auto start = start_message();
  const std::string twilio_start = R"({"event":"start","start":{"streamSid":"MZ1"},"as":"it came"})";
  for (const auto format : {twilio::BackendFormat::simple, twilio::BackendFormat::twilio}) {
    proxy::AudioFeeds feeds(format);
    const auto wide = feeds.feed_for(shape("audio=pcm16@16000&frames=binary"));
    const auto shaped = json::parse(feeds.start_for(wide, start, twilio_start).text());
    const auto& body = format == twilio::BackendFormat::twilio ? shaped.at("start") : shaped;
    CHECK(body.at("mediaFormat") == json{{"encoding", "audio/x-l16"}, {"sampleRate", 16000}, {"channels", 1}});
    CHECK(body.at("customParameters") == json{{"caller", "+1555"}});
    CHECK(body.at("callSid") == "CA1");
    const auto plain = feeds.start_for(0, start, twilio_start);
    if (format == twilio::BackendFormat::twilio) {
      CHECK(plain.text() == twilio_start);  // Twilio's own, as it came
    } else {
      const auto simple = json::parse(plain.text());
      CHECK(simple.at("mediaFormat").at("encoding") == "audio/x-mulaw");
      CHECK(simple.at("customParameters") == json{{"caller", "+1555"}});
    }
  }
}
