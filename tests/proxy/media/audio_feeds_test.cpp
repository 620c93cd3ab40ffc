#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "proxy/media/audio_feeds.h"
#include "twilio/base64.h"
#include "twilio/media_scan.h"
#include "twilio/mulaw.h"

using namespace callproxy;
using nlohmann::json;

namespace {

audio::AudioShape shape(const char* options) { return audio::parse_audio_options(options).value(); }

// The feed of `s`, taken by a backend (only those are computed).
std::size_t use_feed(proxy::AudioFeeds& feeds, const audio::AudioShape& s) {
  const auto feed = feeds.feed_for(s);
  feeds.use(feed);
  return feed;
}

std::span<const std::uint8_t> bytes_of_string(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// A frame of Twilio's exactly as it sends them (its payload found in the text by the fast path).
const std::string mulaw_frame(160, '\x55');
const std::string payload = twilio::base64_encode(mulaw_frame);
const std::string twilio_text =
    R"({"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"3","timestamp":"60","payload":")" +
    payload + R"("},"streamSid":"MZ1"})";

std::string_view payload_in_text() {
  return std::string_view(twilio_text).substr(twilio_text.find(payload), payload.size());
}

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
  twilio_format.use(0);
  twilio_format.on_media(payload_in_text(), twilio_text);
  CHECK(twilio_format.frames(0)[0].text() == twilio_text);

  proxy::AudioFeeds simple(twilio::BackendFormat::simple);
  simple.use(0);
  simple.on_media(payload_in_text(), twilio_text);
  CHECK(simple.frames(0)[0].text() == twilio::write_simple_media(payload));
}

TEST_CASE("each distinct shape is one feed, and feeds of the same audio share one conversion", "[media][shapes]") {
  proxy::AudioFeeds feeds(twilio::BackendFormat::simple);
  CHECK(feeds.feed_for(audio::AudioShape{}) == 0);
  const auto json16 = use_feed(feeds, shape("audio=pcm16@16000"));
  const auto binary16 = use_feed(feeds, shape("audio=pcm16@16000&frames=binary"));
  const auto binary_mulaw = use_feed(feeds, shape("frames=binary"));
  CHECK(feeds.feed_for(shape("frames=binary&audio=pcm16@16000")) == binary16);
  CHECK(feeds.size() == 4);
  CHECK(json16 != binary16);

  feeds.on_media(payload_in_text(), twilio_text);
  CHECK_FALSE(feeds.frames(0).front());           // no backend takes feed 0 here: never written
  CHECK(feeds.frames(binary16)[0].size() < 640);  // the first frame is short by what the resampler holds back
  feeds.on_media(payload_in_text(), twilio_text);
  // Binary: the raw shape bytes; JSON: the same bytes in base64.
  const auto& raw = feeds.frames(binary16)[0].text();
  CHECK(feeds.binary(binary16));
  CHECK(raw.size() == 640);
  const auto message = json::parse(feeds.frames(json16)[0].text());
  CHECK(message.at("event") == "media");
  CHECK(message.at("media").get<std::string>() == twilio::base64_encode(raw));
  // mu-law in binary frames is Twilio's bytes as they came.
  CHECK(feeds.frames(binary_mulaw)[0].text() == mulaw_frame);
}

TEST_CASE("in Twilio's format a shaped frame is Twilio's message with only the payload replaced", "[media][shapes]") {
  proxy::AudioFeeds feeds(twilio::BackendFormat::twilio);
  const auto wide = use_feed(feeds, shape("audio=pcm16@24000"));
  for (const bool fast_path : {true, false}) {
    INFO((fast_path ? "payload found in the text" : "payload elsewhere (an escaped message)"));
    const std::string copy = payload;  // not inside the text: the message is parsed instead
    feeds.on_media(fast_path ? payload_in_text() : std::string_view(copy), twilio_text);
    const auto message = json::parse(feeds.frames(wide)[0].text());
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
    const auto wide = use_feed(feeds, shape("audio=pcm16@16000&frames=binary"));
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

namespace {

std::string frame_of(std::uint8_t code) { return std::string(160, static_cast<char>(code)); }

// Twilio's message for a frame of `code`, and its payload as the fast path finds it.
struct TwilioFrame {
  explicit TwilioFrame(std::uint8_t code) : payload(twilio::base64_encode(frame_of(code))) {
    text =
        R"({"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"3","timestamp":"60","payload":")" +
        payload + R"("},"streamSid":"MZ1"})";
  }
  std::string_view payload_view() const { return std::string_view(text).substr(text.find(payload), payload.size()); }
  std::string payload, text;
};

std::string decoded_media(const std::string& text) {
  const auto message = json::parse(text);
  const auto& media = message.at("media");
  const auto bytes = twilio::base64_decode(media.is_object() ? media.at("payload").get<std::string>()
                                                             : media.get<std::string>());
  REQUIRE(bytes);
  return std::string(bytes->begin(), bytes->end());
}

}  // namespace

TEST_CASE("tracks=both sends the caller's frame then the primary's, each labelled, silence while it is quiet",
          "[media][shapes][tracks]") {
  for (const auto format : {twilio::BackendFormat::simple, twilio::BackendFormat::twilio}) {
    proxy::AudioFeeds feeds(format);
    const auto both = use_feed(feeds, shape("tracks=both"));
    CHECK(feeds.hears_replies());
    const TwilioFrame caller(0x20);
    feeds.on_media(caller.payload_view(), caller.text);
    auto messages = feeds.frames(both);
    REQUIRE(messages.size() == 2);
    const auto track_of = [&](const std::string& text) {
      const auto m = json::parse(text);
      return format == twilio::BackendFormat::simple ? m.at("track") : m.at("media").at("track");
    };
    CHECK(track_of(messages[0].text()) == "inbound");
    CHECK(track_of(messages[1].text()) == "outbound");
    CHECK(decoded_media(messages[0].text()) == frame_of(0x20));
    CHECK(decoded_media(messages[1].text()) == frame_of(0xFF));  // nothing sent yet: silence

    // The primary sends 30 ms: heard over this frame and half of the next, then silence.
    const std::string reply = frame_of(0x41) + std::string(80, '\x42');
    feeds.on_reply_audio(bytes_of_string(reply));
    feeds.on_media(caller.payload_view(), caller.text);
    CHECK(decoded_media(feeds.frames(both)[1].text()) == frame_of(0x41));
    feeds.on_media(caller.payload_view(), caller.text);
    CHECK(decoded_media(feeds.frames(both)[1].text()) == std::string(80, '\x42') + std::string(80, '\xFF'));
    CHECK(feeds.reply_backlog() == 0);

    // A clear drops what was not yet heard.
    feeds.on_reply_audio(bytes_of_string(frame_of(0x43) + frame_of(0x44)));
    feeds.on_media(caller.payload_view(), caller.text);
    feeds.on_clear();
    feeds.on_media(caller.payload_view(), caller.text);
    CHECK(decoded_media(feeds.frames(both)[1].text()) == frame_of(0xFF));
  }
}

TEST_CASE("tracks=stereo interleaves the caller left and the primary right, and mix sums them",
          "[media][shapes][tracks]") {
  proxy::AudioFeeds feeds(twilio::BackendFormat::simple);
  const auto stereo = use_feed(feeds, shape("audio=pcm16@8000&tracks=stereo&frames=binary"));
  const auto mix = use_feed(feeds, shape("tracks=mix&audio=pcm16@8000"));
  const TwilioFrame caller(0x20);
  feeds.on_reply_audio(bytes_of_string(frame_of(0xA0)));
  feeds.on_media(caller.payload_view(), caller.text);

  const auto& interleaved = feeds.frames(stereo)[0].text();
  REQUIRE(interleaved.size() == 160 * 4);
  const auto left = twilio::mulaw_decode(0x20), right = twilio::mulaw_decode(0xA0);
  const auto sample_at = [&](std::size_t i) {
    return static_cast<std::int16_t>(static_cast<std::uint8_t>(interleaved[i]) |
                                     (static_cast<std::uint8_t>(interleaved[i + 1]) << 8));
  };
  for (std::size_t i = 0; i < 160; ++i) {
    REQUIRE(sample_at(4 * i) == left);
    REQUIRE(sample_at(4 * i + 2) == right);
  }
  const auto mixed = decoded_media(feeds.frames(mix)[0].text());
  REQUIRE(mixed.size() == 320);
  const auto sum = static_cast<std::int16_t>(std::clamp(left + right, -32768, 32767));
  CHECK(static_cast<std::int16_t>(static_cast<std::uint8_t>(mixed[0]) | (static_cast<std::uint8_t>(mixed[1]) << 8)) ==
        sum);
  const auto start = json::parse(feeds.start_for(stereo, start_message(), "").text());
  CHECK(start.at("mediaFormat").at("channels") == 2);
  CHECK(start.at("tracks") == json{"inbound", "outbound"});
}

TEST_CASE("the primary's audio waiting to be heard is bounded", "[media][shapes][tracks]") {
  proxy::AudioFeeds feeds(twilio::BackendFormat::simple);
  use_feed(feeds, shape("tracks=mix"));
  const std::string minute(proxy::AudioFeeds::max_reply_backlog, '\x10');
  feeds.on_reply_audio(bytes_of_string(minute));
  feeds.on_reply_audio(bytes_of_string(frame_of(0x11)));
  CHECK(feeds.reply_backlog() == proxy::AudioFeeds::max_reply_backlog);
  const TwilioFrame caller(0x20);
  feeds.on_media(caller.payload_view(), caller.text);
  CHECK(feeds.reply_backlog() == proxy::AudioFeeds::max_reply_backlog - 160);
}
