// Twilio's media-stream messages, as serve reads them: the fast path (MediaScanner, simdjson
// on-demand) must never contradict the full parser (parse_twilio_message, nlohmann): what the
// scanner calls media or dropped, the full parser reads as a media message with the same payload
// and the same verdict on it; and what its match of Twilio's own layout accepts, its simdjson scan
// reads the same way. The full parser's messages must also survive being written and read
// again. The property test in tests/twilio/media_scan_test.cpp checks the same with random edits.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "twilio/base64.h"
#include "twilio/media_message.h"
#include "twilio/media_scan.h"

using namespace callproxy;
using namespace callproxy::twilio;
using Outcome = MediaScanner::Outcome;

namespace {

constexpr std::size_t max_message = 64 * 1024;  // serve's default --max-message-bytes
// serve's default --max-frame-bytes, and Twilio's own frame (160) so that too_large is reached.
constexpr std::size_t frame_limits[] = {32 * 1024, 160};

std::string_view name(Outcome o) { return o == Outcome::media ? "media" : o == Outcome::dropped ? "dropped" : "other"; }

void check_scan(MediaScanner& scanner, std::string_view text, std::size_t max_frame) {
  // The message in a buffer with the padding the scanner may read, filled with what would confuse
  // a scanner that read it as part of the message.
  std::string buffer(text);
  buffer.append(scan_padding, '"');
  const auto fast = scanner.scan(buffer.data(), text.size(), buffer.size(), max_frame);
  // Twilio's layout, matched without simdjson, is read the same way by simdjson.
  if (const auto layout = match_twilio_layout(text, max_frame)) {
    const auto general = scanner.scan_any_layout(buffer.data(), text.size(), buffer.size(), max_frame);
    fuzz::require(layout->outcome == Outcome::media && general.outcome == Outcome::media,
                  "Twilio's layout matched a message the general scan does not call media",
                  std::string(name(general.outcome)));
    fuzz::require(general.payload == layout->payload && general.check.bytes == layout->check.bytes,
                  "Twilio's layout and the general scan read different payloads");
  }
  fuzz::require((fast.outcome == Outcome::dropped) == fast.check.drop.has_value(),
                "the scanner says dropped exactly when its payload check gives a reason");
  if (fast.outcome == Outcome::other) return;

  const auto parsed = parse_twilio_message(text);
  fuzz::require(parsed.ok(), "the scanner vouched for a message the full parser refuses",
                parsed.ok() ? "" : parsed.error());
  const auto* media = std::get_if<MediaMessage>(&parsed.value());
  fuzz::require(media != nullptr, "the scanner called a message media that the full parser reads as another event");
  const auto full = check_media_payload(media->payload, max_frame);
  const auto full_outcome = full.drop ? Outcome::dropped : Outcome::media;
  fuzz::require(
      full_outcome == fast.outcome, "the scanner and the full parser disagree on the payload",
      std::string("scanner: ") + std::string(name(fast.outcome)) + ", full parser: " + std::string(name(full_outcome)));
  fuzz::require(media->payload == fast.payload, "the scanner and the full parser read different payloads");
  fuzz::require(full.bytes == fast.check.bytes && full.drop == fast.check.drop,
                "the scanner and the full parser check the payload differently");
  if (fast.outcome == Outcome::media) {
    // Only canonical base64 of 1..max_frame bytes is ever forwarded.
    const auto decoded = base64_decode(fast.payload);
    fuzz::require(decoded.has_value() && decoded->size() == fast.check.bytes && !decoded->empty() &&
                      decoded->size() <= max_frame && base64_encode(*decoded) == fast.payload,
                  "the scanner forwards a payload that is not canonical base64 of 1..max bytes");
  }
}

// What the full parser reads, written and read again, reads the same (and writing is stable).
void check_round_trip(std::string_view text) {
  const auto parsed = parse_twilio_message(text);
  if (!parsed) return;
  const auto written = serialize(parsed.value());
  const auto again = parse_twilio_message(written);
  fuzz::require(again.ok(), "what serialize wrote does not parse", written);
  fuzz::require(event_name(again.value()) == event_name(parsed.value()), "a round trip changed the event", written);
  fuzz::require(serialize(again.value()) == written, "writing a message is not stable across a round trip", written);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > max_message) return -1;  // serve closes the stream before reading such a message
  static MediaScanner scanner(max_message);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto limit : frame_limits) check_scan(scanner, text, limit);
  check_round_trip(text);
  return 0;
}
