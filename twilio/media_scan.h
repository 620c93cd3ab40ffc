// The media fast path: recognises Twilio's `media` message where it was read, without a DOM and
// without allocating, and validates what serve forwards from it. Every message the scanner does
// not vouch for goes to the full parser (parse_twilio_message), so the scanner only ever answers
// for a subset of what the full parser accepts, and answers the same (tests/twilio/media_scan_test.cpp).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>

namespace callproxy::twilio {

// Readable bytes the scanner needs after the end of a message (simdjson's SIMD loads may read
// past it; the values there do not matter).
inline constexpr std::size_t scan_padding = 64;

// Why a media message is dropped rather than forwarded.
enum class MediaDrop : std::size_t {
  bad_payload,  // not canonical base64 (alphabet, length, padding, trailing bits), or empty
  too_large,    // decodes to more than --max-frame-bytes
  count
};
std::string_view describe(MediaDrop reason);

// The mu-law bytes a valid payload carries, or why it is not valid: canonical padded base64
// (RFC 4648 §3.5: unused bits zero) of 1..max_bytes bytes.
struct PayloadCheck {
  std::size_t bytes = 0;
  std::optional<MediaDrop> drop;
};
PayloadCheck check_media_payload(std::string_view base64, std::size_t max_bytes);

class MediaScanner {
 public:
  enum class Outcome {
    media,    // a well-formed media message with a valid payload: forward it
    dropped,  // a well-formed media message whose payload is not valid: drop it (`drop` says why)
    other,    // anything else, valid or not: parse it fully
  };
  struct Scan {
    Outcome outcome = Outcome::other;
    // media and dropped: the payload, in `data` (no escapes) or in the scanner's buffer (unescaped):
    // valid while `data` is and until the next scan
    std::string_view payload;
    PayloadCheck check;
  };

  // Room for messages up to `max_message_bytes` is allocated once, here.
  explicit MediaScanner(std::size_t max_message_bytes);
  ~MediaScanner();
  MediaScanner(const MediaScanner&) = delete;
  MediaScanner& operator=(const MediaScanner&) = delete;

  // `data` holds `size` bytes of one message, and `capacity` >= size + scan_padding bytes are
  // readable from `data` (returns `other` if not). Recognised: one JSON object of exactly
  // Twilio's media fields, each once and of Twilio's type (event "media"; sequenceNumber and
  // streamSid strings; media {track, chunk, timestamp, payload} strings), any order, nothing
  // after it. Twilio's own layout is matched first (match_twilio_layout), everything else read
  // by simdjson (scan_any_layout).
  Scan scan(const char* data, std::size_t size, std::size_t capacity, std::size_t max_frame_bytes);

  // The same recognition on simdjson alone, whatever the layout (what scan falls back to).
  Scan scan_any_layout(const char* data, std::size_t size, std::size_t capacity, std::size_t max_frame_bytes);

  // The simdjson kernel the scan was compiled for ("fallback", "haswell", …).
  static std::string_view implementation();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A media message exactly as Twilio writes it, byte for byte:
//   {"event":"media","sequenceNumber":"…","media":{"track":"…","chunk":"…","timestamp":"…",
//    "payload":"…"},"streamSid":"…"}
// with no whitespace, strings of printable ASCII without escapes, and a valid payload: the
// media outcome, with no JSON parser at all (a few hundred instructions a frame instead of a
// couple of thousand). Anything else, a dropped payload included, is nullopt: the general scan
// decides. Whatever this accepts, scan_any_layout accepts the same way (tests/twilio/media_scan_test.cpp,
// and the media_message fuzz target).
std::optional<MediaScanner::Scan> match_twilio_layout(std::string_view text, std::size_t max_frame_bytes);

}  // namespace callproxy::twilio
