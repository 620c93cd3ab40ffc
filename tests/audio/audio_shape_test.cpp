#include <catch2/catch.hpp>

#include <string>

#include "audio/audio_shape.h"

using namespace callproxy;
using audio::Codec;
using audio::Framing;

TEST_CASE("an entry without '#' keeps Twilio's shape and its address whole", "[audio][shape]") {
  for (const std::string entry : {"10.0.0.5:8900", "ws://bot:9000/media?x=1", "bot.example.com"}) {
    const auto split = audio::split_shaped_entry(entry);
    REQUIRE(split.ok());
    CHECK(split.value().address == entry);
    CHECK(split.value().shape.is_default());
    CHECK(split.value().shape.audio_name() == "mulaw@8000");
  }
}

TEST_CASE("every audio shape option reads as what it names, in any order", "[audio][shape]") {
  const auto split = audio::split_shaped_entry("ws://stt.internal:9000/in#audio=pcm16@16000&frames=binary");
  REQUIRE(split.ok());
  CHECK(split.value().address == "ws://stt.internal:9000/in");
  const auto& shape = split.value().shape;
  CHECK(shape.codec == Codec::pcm16);
  CHECK(shape.rate == 16000);
  CHECK(shape.frames == Framing::binary);
  CHECK(shape.frame_bytes() == 640);
  CHECK(shape.encoding() == "audio/x-l16");
  CHECK(shape.describe() == "pcm16@16000, binary frames, inbound track");
  CHECK(shape.tracks == audio::Tracks::inbound);

  const auto reversed = audio::parse_audio_options("frames=binary&audio=pcm16@16000");
  REQUIRE(reversed.ok());
  CHECK(reversed.value() == shape);

  struct Case {
    const char* options;
    Codec codec;
    int rate;
    Framing frames;
    std::size_t frame_bytes;
  };
  for (const auto& c : {Case{"audio=mulaw@8000", Codec::mulaw, 8000, Framing::json, 160},
                        Case{"audio=pcm16@8000", Codec::pcm16, 8000, Framing::json, 320},
                        Case{"audio=pcm16@24000", Codec::pcm16, 24000, Framing::json, 960},
                        Case{"frames=binary", Codec::mulaw, 8000, Framing::binary, 160},
                        Case{"frames=json", Codec::mulaw, 8000, Framing::json, 160},
                        Case{"audio=pcm16@16000&tracks=stereo", Codec::pcm16, 16000, Framing::json, 1280}}) {
    INFO(c.options);
    const auto parsed = audio::parse_audio_options(c.options);
    REQUIRE(parsed.ok());
    CHECK(parsed.value().codec == c.codec);
    CHECK(parsed.value().rate == c.rate);
    CHECK(parsed.value().frames == c.frames);
    CHECK(parsed.value().frame_bytes() == c.frame_bytes);
  }
  const auto stereo = audio::parse_audio_options("audio=pcm16@16000&tracks=stereo&frames=binary").value();
  CHECK(stereo.tracks == audio::Tracks::stereo);
  CHECK(stereo.channels() == 2);
  CHECK(stereo.describe() == "pcm16@16000, binary frames, stereo");
  CHECK(audio::parse_audio_options("tracks=both").value().describe() == "mulaw@8000, JSON frames, both tracks");
  CHECK(audio::parse_audio_options("tracks=mix").value().tracks == audio::Tracks::mix);
  CHECK_FALSE(audio::parse_audio_options("tracks=mix").value().is_default());
  // Named explicitly, Twilio's own shape is still the default: no conversion.
  CHECK(audio::parse_audio_options("audio=mulaw@8000&frames=json&tracks=inbound").value().is_default());
}

TEST_CASE("unknown, malformed or repeated audio options are refused, naming what is accepted", "[audio][shape]") {
  struct Case {
    const char* entry;
    const char* error;
  };
  for (const auto& c :
       {Case{"bot:9000#", "nothing after '#'"},
        Case{"bot:9000#audio=pcm16@44100", "expected mulaw@8000, pcm16@8000, pcm16@16000 or pcm16@24000"},
        Case{"bot:9000#audio=pcm16", "audio='pcm16'"}, Case{"bot:9000#audio=PCM16@16000", "audio='PCM16@16000'"},
        Case{"bot:9000#audio=", "audio=''"}, Case{"bot:9000#frames=raw", "frames='raw': expected json or binary"},
        Case{"bot:9000#tracks=all", "tracks='all': expected inbound, both, mix or stereo"},
        Case{"bot:9000#tracks=stereo", "tracks=stereo is 16-bit PCM: add audio=pcm16@8000"},
        Case{"bot:9000#tracks=stereo&audio=mulaw@8000", "tracks=stereo is 16-bit PCM"},
        Case{"bot:9000#tracks=both&frames=binary", "use JSON frames, or tracks=stereo"},
        Case{"bot:9000#tracks=mix&tracks=mix", "tracks= given twice"},
        Case{"bot:9000#track=both", "unknown option 'track=both'"}, Case{"bot:9000#audio", "audio=''"},
        Case{"bot:9000#audio=pcm16@16000&", "unknown option ''"},
        Case{"bot:9000#audio=pcm16@16000&audio=pcm16@8000", "audio= given twice"},
        Case{"bot:9000#frames=json&frames=binary", "frames= given twice"},
        Case{"bot:9000#audio=pcm16@16000#frames=binary", "audio='pcm16@16000#frames=binary'"}}) {
    INFO(c.entry);
    const auto split = audio::split_shaped_entry(c.entry);
    REQUIRE_FALSE(split.ok());
    CHECK_THAT(split.error(), Catch::Contains(c.error));
  }
}
