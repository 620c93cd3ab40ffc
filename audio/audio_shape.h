// The shape of audio a backend wants (docs/serve.md, "Audio shapes"): its codec and rate, how its
// frames travel, and which sides of the call it hears. Named in a backend entry after a '#', where it cannot be taken
// for part of the address (a URL's fragment never reaches the server) and a Studio flow can write it as part of the
// string:  ws://stt.internal:9000/in#audio=pcm16@16000&frames=binary&tracks=stereo An entry without '#' is exactly what
// it was: Twilio's own 8 kHz mu-law, base64 in JSON.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace callproxy::audio {

enum class Codec { mulaw, pcm16 };    // pcm16: signed 16-bit little-endian, as realtime speech APIs take it
enum class Framing { json, binary };  // base64 in the JSON media messages, or one binary message per 20 ms
// Which sides: the caller's (Twilio's inbound track, all Twilio streams with <Connect>); both, each
// in messages of its own labelled as Twilio labels them (inbound, outbound); one mono mix of both;
// or stereo, caller left and primary right (16-bit PCM, interleaved). The primary's side is what
// it sent the caller, placed when the caller hears it (audio_feeds.h).
enum class Tracks { inbound, both, mix, stereo };

struct AudioShape {
  Codec codec = Codec::mulaw;
  int rate = 8000;
  Framing frames = Framing::json;
  Tracks tracks = Tracks::inbound;

  // Twilio's own audio in Twilio's framing: what needs no conversion at all.
  bool is_default() const {
    return codec == Codec::mulaw && rate == 8000 && frames == Framing::json && tracks == Tracks::inbound;
  }
  // Same samples (the framing aside): computed once per call for every backend that wants them.
  bool same_audio(const AudioShape& other) const { return codec == other.codec && rate == other.rate; }
  bool operator==(const AudioShape&) const = default;

  // "pcm16@16000"
  std::string audio_name() const;
  // "pcm16@16000, binary frames, stereo" (for log lines)
  std::string describe() const;
  // "inbound", "both", "mix", "stereo"
  std::string_view tracks_name() const;
  int channels() const { return tracks == Tracks::stereo ? 2 : 1; }
  // The encoding a start message's mediaFormat names: "audio/x-mulaw" (Twilio's) or "audio/x-l16".
  std::string_view encoding() const { return codec == Codec::mulaw ? "audio/x-mulaw" : "audio/x-l16"; }
  // Bytes of one 20 ms frame (of one track, for both).
  std::size_t frame_bytes() const {
    return static_cast<std::size_t>(rate / 50) * (codec == Codec::pcm16 ? 2 : 1) * static_cast<std::size_t>(channels());
  }
};

// A backend entry split at its first '#': the address before it, and the shape its options name
// ("audio=pcm16@16000&frames=binary&tracks=both", each option at most once). Without '#', the
// default shape. Unknown options, values or repeats are errors naming them and what is accepted;
// so are combinations that cannot be: stereo is 16-bit PCM, and both's messages are labelled
// (JSON frames).
struct ShapedEntry {
  std::string_view address;
  AudioShape shape;
};
Result<ShapedEntry> split_shaped_entry(std::string_view entry);

// The options part alone ("audio=pcm16@16000&frames=binary").
Result<AudioShape> parse_audio_options(std::string_view options);

}  // namespace callproxy::audio
