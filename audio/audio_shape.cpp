#include "audio/audio_shape.h"

#include <array>

#include "core/log_text.h"

namespace callproxy::audio {
namespace {

struct NamedAudio {
  std::string_view name;
  Codec codec;
  int rate;
};
constexpr std::array<NamedAudio, 4> known_audio{{{"mulaw@8000", Codec::mulaw, 8000},
                                                 {"pcm16@8000", Codec::pcm16, 8000},
                                                 {"pcm16@16000", Codec::pcm16, 16000},
                                                 {"pcm16@24000", Codec::pcm16, 24000}}};

constexpr std::string_view audio_choices = "mulaw@8000, pcm16@8000, pcm16@16000 or pcm16@24000";

}  // namespace

std::string AudioShape::audio_name() const {
  return std::string(codec == Codec::mulaw ? "mulaw" : "pcm16") + "@" + std::to_string(rate);
}

std::string AudioShape::describe() const {
  return audio_name() + (frames == Framing::binary ? ", binary frames, " : ", JSON frames, ") +
         std::string(tracks_name()) +
         (tracks == Tracks::inbound ? " track"
          : tracks == Tracks::both  ? " tracks"
                                    : "");
}

std::string_view AudioShape::tracks_name() const {
  switch (tracks) {
    case Tracks::inbound: return "inbound";
    case Tracks::both: return "both";
    case Tracks::mix: return "mix";
    case Tracks::stereo: return "stereo";
  }
  return "inbound";
}

Result<AudioShape> parse_audio_options(std::string_view options) {
  AudioShape shape;
  bool seen_audio = false, seen_frames = false, seen_tracks = false;
  if (options.empty()) return Error{"nothing after '#': expected audio=…, frames=… or tracks=…"};
  while (true) {
    const auto amp = options.find('&');
    const auto option = options.substr(0, amp);
    const auto eq = option.find('=');
    const auto key = option.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::string_view() : option.substr(eq + 1);
    if (key == "audio") {
      if (seen_audio) return Error{"audio= given twice"};
      seen_audio = true;
      bool found = false;
      for (const auto& known : known_audio) {
        if (value == known.name) {
          shape.codec = known.codec;
          shape.rate = known.rate;
          found = true;
        }
      }
      if (!found) return Error{"audio='" + logged_text(value, 32) + "': expected " + std::string(audio_choices)};
    } else if (key == "frames") {
      if (seen_frames) return Error{"frames= given twice"};
      seen_frames = true;
      if (value == "json") {
        shape.frames = Framing::json;
      } else if (value == "binary") {
        shape.frames = Framing::binary;
      } else {
        return Error{"frames='" + logged_text(value, 32) + "': expected json or binary"};
      }
    } else if (key == "tracks") {
      if (seen_tracks) return Error{"tracks= given twice"};
      seen_tracks = true;
      if (value == "inbound") {
        shape.tracks = Tracks::inbound;
      } else if (value == "both") {
        shape.tracks = Tracks::both;
      } else if (value == "mix") {
        shape.tracks = Tracks::mix;
      } else if (value == "stereo") {
        shape.tracks = Tracks::stereo;
      } else {
        return Error{"tracks='" + logged_text(value, 32) + "': expected inbound, both, mix or stereo"};
      }
    } else {
      return Error{"unknown option '" + logged_text(option, 32) + "': expected audio=…, frames=… or tracks=…"};
    }
    if (amp == std::string_view::npos) break;
    options.remove_prefix(amp + 1);
  }
  if (shape.tracks == Tracks::stereo && shape.codec != Codec::pcm16) {
    return Error{"tracks=stereo is 16-bit PCM: add audio=pcm16@8000 (or @16000, @24000)"};
  }
  if (shape.tracks == Tracks::both && shape.frames == Framing::binary) {
    return Error{"tracks=both labels each message with its track, which binary frames cannot carry: use JSON "
                 "frames, or tracks=stereo"};
  }
  return shape;
}

Result<ShapedEntry> split_shaped_entry(std::string_view entry) {
  const auto hash = entry.find('#');
  if (hash == std::string_view::npos) return ShapedEntry{entry, AudioShape{}};
  auto shape = parse_audio_options(entry.substr(hash + 1));
  if (!shape) return Error{shape.error()};
  return ShapedEntry{entry.substr(0, hash), shape.value()};
}

}  // namespace callproxy::audio
