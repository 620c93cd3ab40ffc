// The media fast path against the full parser: whatever the scanner vouches for, the full parser
// reads the same way, and only valid payloads are ever called media.
#include <catch2/catch.hpp>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "twilio/base64.h"
#include "twilio/media_message.h"
#include "twilio/media_scan.h"

using namespace callproxy::twilio;
using Outcome = MediaScanner::Outcome;

namespace {

constexpr std::size_t max_message = 64 * 1024;
constexpr std::size_t max_frame = 32 * 1024;

std::string media_message(std::string_view payload) {
  return std::string(R"({"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1",)") +
         R"("timestamp":"5","payload":")" + std::string(payload) + R"("},"streamSid":"MZ2222"})";
}

// A message in a buffer with the padding the scanner needs after it (filled with bytes that
// would confuse a scanner reading them as part of the message).
struct Padded {
  std::string storage;
  explicit Padded(std::string_view text) : storage(text) { storage.append(scan_padding, '"'); }
  MediaScanner::Scan scan(MediaScanner& scanner, std::size_t max_bytes = max_frame) const {
    return scanner.scan(storage.data(), storage.size() - scan_padding, storage.size(), max_bytes);
  }
};

MediaScanner& scanner() {
  static MediaScanner instance(max_message);
  return instance;
}

// A scan's payload may point into the message's own buffer (an escape-free payload is read where
// it stands): the last message scanned is kept until the next.
MediaScanner::Scan scan(std::string_view text, std::size_t max_bytes = max_frame) {
  static std::optional<Padded> last;
  last.emplace(text);
  return last->scan(scanner(), max_bytes);
}

// What the full path decides for the same text: the outcome and, for media, the payload.
struct Full {
  Outcome outcome = Outcome::other;
  std::string payload;
  PayloadCheck check;
};
Full full_path(std::string_view text, std::size_t max_bytes = max_frame) {
  const auto parsed = parse_twilio_message(text);
  if (!parsed || !std::holds_alternative<MediaMessage>(parsed.value())) return {};
  Full full;
  full.payload = std::get<MediaMessage>(parsed.value()).payload;
  full.check = check_media_payload(full.payload, max_bytes);
  full.outcome = full.check.drop ? Outcome::dropped : Outcome::media;
  return full;
}

// What Twilio's layout matcher accepts, the general scan (simdjson, any layout) reads the same
// way. Returns whether the matcher accepted it.
bool check_layout_agrees(const std::string& text) {
  const auto layout = match_twilio_layout(text, max_frame);
  if (!layout) return false;
  INFO(text);
  const Padded padded(text);
  const auto general = scanner().scan_any_layout(padded.storage.data(), text.size(), padded.storage.size(), max_frame);
  REQUIRE(layout->outcome == Outcome::media);
  REQUIRE(general.outcome == Outcome::media);
  CHECK(general.payload == layout->payload);
  CHECK(general.check.bytes == layout->check.bytes);
  CHECK_FALSE(general.check.drop);
  return true;
}

// The scanner never contradicts the full parser: what it calls media or dropped, the full path
// calls the same, with the same payload.
void check_agrees(const std::string& text) {
  const auto fast = scan(text);
  if (fast.outcome == Outcome::other) return;
  INFO(text);
  const auto full = full_path(text);
  REQUIRE(full.outcome == fast.outcome);
  CHECK(full.payload == fast.payload);
  CHECK(full.check.bytes == fast.check.bytes);
  CHECK(full.check.drop == fast.check.drop);
}

}  // namespace

TEST_CASE("canonical base64 of 1..N bytes is the only valid payload", "[media-scan]") {
  CHECK(check_media_payload("no+JhoaJjpz/", 100).bytes == 9);
  CHECK_FALSE(check_media_payload("no+JhoaJjpz/", 100).drop);
  CHECK(check_media_payload("QQ==", 100).bytes == 1);
  CHECK(check_media_payload("QUI=", 100).bytes == 2);
  for (const char* bad : {"", "=", "==", "===", "====", "Q", "QQ", "QQ=", "QQ=a", "Q===", "QR==", "QUJ=", "A\",\"e",
                          "QQ==QQ==", " QQ=", "QQ\n=", "\"\"\"\"", "QQ\x01=", "\xc3\xa9QQ"}) {
    INFO(bad);
    CHECK(check_media_payload(bad, 100).drop == MediaDrop::bad_payload);
  }
  CHECK(check_media_payload(std::string(404, 'A'), 300).drop == MediaDrop::too_large);
  CHECK(check_media_payload(std::string(404, 'A'), 300).bytes == 303);
  CHECK(check_media_payload(std::string(400, 'A'), 300).bytes == 300);
  CHECK_FALSE(check_media_payload(std::string(400, 'A'), 300).drop);
}

TEST_CASE("the payload check agrees with decoding and re-encoding", "[media-scan][property]") {
  const auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 random(seed);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
  for (int i = 0; i < 20000; ++i) {
    std::string text(random() % 13, ' ');
    for (auto& c : text) c = random() % 8 == 0 ? static_cast<char>(random() % 256) : alphabet[random() % 65];
    const auto decoded = base64_decode(text);
    const bool canonical = decoded && !decoded->empty() && base64_encode(*decoded) == text;
    INFO(text);
    const auto check = check_media_payload(text, 1000);
    REQUIRE(!check.drop == canonical);
    if (canonical) CHECK(check.bytes == decoded->size());
  }
  for (std::size_t n = 1; n < 300; ++n) {
    std::vector<std::uint8_t> bytes(n);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(random());
    const auto check = check_media_payload(base64_encode(bytes), 1000);
    REQUIRE_FALSE(check.drop);
    CHECK(check.bytes == n);
  }
}

TEST_CASE("Twilio's media messages take the fast path, in any field order", "[media-scan]") {
  const auto twilio = scan(media_message("no+JhoaJjpz/"));
  REQUIRE(twilio.outcome == Outcome::media);
  CHECK(twilio.payload == "no+JhoaJjpz/");
  CHECK(twilio.check.bytes == 9);

  const auto reordered = scan(
      R"( { "streamSid" : "MZ1", "media" : { "payload" : "QUI=", "timestamp":"5" } , "event" : "media" } )");
  REQUIRE(reordered.outcome == Outcome::media);
  CHECK(reordered.payload == "QUI=");
  // JSON may escape '/': the payload is what the string means, not how it was written.
  const auto escaped = scan(R"({"event":"media","media":{"payload":"no+JhoaJjpz\/"}})");
  REQUIRE(escaped.outcome == Outcome::media);
  CHECK(escaped.payload == "no+JhoaJjpz/");
  // The Node service's test client: a whole recording in one message.
  const std::string recording(32 * 1024, 'x');
  const auto large = scan(media_message(base64_encode(recording)));
  REQUIRE(large.outcome == Outcome::media);
  CHECK(large.check.bytes == recording.size());
}

TEST_CASE("Twilio's own layout is matched without a JSON parser, and nothing else is", "[media-scan]") {
  // The match's payload is a view into the text it read: the text must outlive it.
  const std::string message = media_message("no+JhoaJjpz/");
  const auto twilio = match_twilio_layout(message, max_frame);
  REQUIRE(twilio.has_value());
  CHECK(twilio->outcome == Outcome::media);
  CHECK(twilio->payload == "no+JhoaJjpz/");
  CHECK(twilio->check.bytes == 9);
  CHECK(check_layout_agrees(message));
  CHECK(check_layout_agrees(media_message(base64_encode(std::string(32 * 1024, 'x')))));

  // Declined (the general scan decides): any other layout, escapes, non-ASCII, invalid or too
  // large payloads, anything after the message.
  const std::string twilio_text = media_message("QUI=");
  const auto with_sequence = [&](std::string_view sequence) {  // Twilio's message, another sequenceNumber
    return std::string(R"({"event":"media","sequenceNumber":")") + std::string(sequence) + twilio_text.substr(36);
  };
  REQUIRE(match_twilio_layout(with_sequence("3"), max_frame).has_value());
  for (const std::string& text : {
           std::string(R"({"event":"media","media":{"payload":"QUI="}})"),  // fields missing
           std::string(R"({ "event":"media",)") + twilio_text.substr(17),   // whitespace
           media_message("no+JhoaJjpz\\/"),                                 // an escape
           media_message("QUI"),                                            // bad payload
           media_message(""),                                               // empty payload
           media_message(base64_encode(std::string(max_frame + 1, 'x'))),   // too large
           twilio_text + " ",                                               // trailing text
           twilio_text.substr(0, twilio_text.size() - 1),                   // unclosed
           with_sequence("3\\n"),                                           // an escape
           with_sequence("\xc3\xa9"),                                       // UTF-8
           with_sequence("\x01"),                                           // control
       }) {
    INFO(text);
    CHECK_FALSE(match_twilio_layout(text, max_frame).has_value());
    check_agrees(text);
  }
}

TEST_CASE("hostile media payloads are dropped with their reason, never forwarded", "[media-scan][bad-input]") {
  for (const char* payload : {R"(A\",\"event\":\"stop)", "\\u0001QQ=", "=", "==", "", "AB==", "not base64!", "QQ= "}) {
    INFO(payload);
    const auto result = scan(media_message(payload));
    REQUIRE(result.outcome == Outcome::dropped);
    CHECK(result.check.drop == MediaDrop::bad_payload);
    check_agrees(media_message(payload));
  }
  const auto large = scan(media_message(base64_encode(std::string(1000, 'x'))), 999);
  REQUIRE(large.outcome == Outcome::dropped);
  CHECK(large.check.drop == MediaDrop::too_large);
  CHECK(large.check.bytes == 1000);
}

TEST_CASE("what the scanner does not vouch for goes to the full parser", "[media-scan]") {
  for (const char* text : {R"({"event":"start","start":{}})",
                           R"({"event":"dtmf","dtmf":{"digit":"5"}})",
                           R"({"event":"media","event":"stop","media":{"payload":"QQ=="}})",      // repeated key
                           R"({"event":"media","media":{"payload":"QQ==","payload":"QUI="}})",    // repeated key
                           R"({"event":"media","media":{"payload":"QQ=="},"extra":1})",           // unknown field
                           R"({"event":"media","media":{"payload":"QQ==","volume":3}})",          // unknown field
                           R"({"event":"media","sequenceNumber":3,"media":{"payload":"QQ=="}})",  // a number
                           R"({"event":"media","media":{"payload":7}})",                          // not a string
                           R"({"event":"media","media":"QQ=="})",                                 // the simple shape
                           R"({"event":"media","media":{"payload":"QQ=="}} x)",                   // trailing text
                           R"({"event":"media","media":{"payload":"QQ=="}}{})",                   // a second document
                           R"({"event":"media","media":{"payload":"QQ=="})",                      // unclosed
                           R"({"event":"media" "media":{"payload":"QQ=="}})",                     // no comma
                           R"({"media":{"payload":"QQ=="}})",                                     // no event
                           R"({"event":"media"})",                                                // no media
                           R"(["event","media"])",
                           R"("media")",
                           "",
                           "{",
                           "\xff\xfe"}) {
    INFO(text);
    CHECK(scan(text).outcome == Outcome::other);
  }
}

TEST_CASE("without padding after the message the scanner declines", "[media-scan][bad-input]") {
  const std::string text = media_message("QQ==");
  CHECK(scanner().scan(text.data(), text.size(), text.size(), max_frame).outcome == Outcome::other);
  CHECK(scanner().scan(text.data(), text.size(), text.size() + scan_padding - 1, max_frame).outcome == Outcome::other);
}

TEST_CASE("mutated media messages: the scanner never contradicts the full parser", "[media-scan][property]") {
  const auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 random(seed);
  const std::string base = media_message("no+JhoaJjpz/");
  const std::string interesting = "{}[]\":,\\ =/+Aa0\x01\xff\xc3u";
  int media = 0, dropped = 0, layout = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = base;
    for (int edits = 1 + static_cast<int>(random() % 3); edits > 0; --edits) {
      const std::size_t at = random() % (text.size() + 1);
      const char c = random() % 2 ? interesting[random() % interesting.size()] : static_cast<char>(random() % 256);
      switch (random() % 3) {
        case 0: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c); break;
        case 1:
          if (at < text.size()) text.erase(at, 1);
          break;
        default:
          if (at < text.size()) text[at] = c;
      }
    }
    const auto outcome = scan(text).outcome;
    media += outcome == Outcome::media;
    dropped += outcome == Outcome::dropped;
    layout += check_layout_agrees(text);
    check_agrees(text);
  }
  // The mutations reach every outcome (else this test proves nothing).
  CHECK(media > 100);
  CHECK(dropped > 100);
  CHECK(layout > 100);
  CHECK(media - layout > 10);  // and media messages in other layouts (a space, an escape: ~30 here)
}
