// The shape of audio a backend wants (docs/serve.md, "Audio shapes"): its codec and rate, and
// how its frames travel. Named in a backend entry after a '#', where it cannot be taken for part
// of the address (a URL's fragment never reaches the server) and a Studio flow can write it as
// part of the string:  ws://stt.internal:9000/in#audio=pcm16@16000&frames=binary
// An entry without '#' is exactly what it was: Twilio's own 8 kHz mu-law, base64 in JSON.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace callproxy::audio {

enum class Codec { mulaw, pcm16 };  // pcm16: signed 16-bit little-endian, as realtime speech APIs take it
enum class Framing { json, binary };  // base64 in the JSON media messages, or one binary message per 20 ms

struct AudioShape {
  Codec codec = Codec::mulaw;
  int rate = 8000;
  Framing frames = Framing::json;

  // Twilio's own audio in Twilio's framing: what needs no conversion at all.
  bool is_default() const { return codec == Codec::mulaw && rate == 8000 && frames == Framing::json; }
  // Same samples (the framing aside): computed once per call for every backend that wants them.
  bool same_audio(const AudioShape& other) const { return codec == other.codec && rate == other.rate; }
  bool operator==(const AudioShape&) const = default;

  // "pcm16@16000"
  std::string audio_name() const;
  // "pcm16@16000, binary frames" (for log lines)
  std::string describe() const;
  // The encoding a start message's mediaFormat names: "audio/x-mulaw" (Twilio's) or "audio/x-l16".
  std::string_view encoding() const { return codec == Codec::mulaw ? "audio/x-mulaw" : "audio/x-l16"; }
  // Bytes of one 20 ms frame.
  std::size_t frame_bytes() const { return static_cast<std::size_t>(rate / 50) * (codec == Codec::pcm16 ? 2 : 1); }
};

// A backend entry split at its first '#': the address before it, and the shape its options name
// ("audio=pcm16@16000&frames=binary", each option at most once). Without '#', the default shape.
// Unknown options, values or repeats are errors naming them and what is accepted.
struct ShapedEntry {
  std::string_view address;
  AudioShape shape;
};
Result<ShapedEntry> split_shaped_entry(std::string_view entry);

// The options part alone ("audio=pcm16@16000&frames=binary").
Result<AudioShape> parse_audio_options(std::string_view options);

}  // namespace callproxy::audio
