// The audio shapes' conversions against a reference: libsamplerate's best sinc converter (an
// independent implementation), run on the whole signal at once, while serve's converters take
// it in 20 ms frames as a call does. Agreement is an SNR over the telephone band, asserted with
// a margin below what was measured (docs/serve.md, "Audio shapes").
#include <catch2/catch.hpp>

#include <cstdint>
#include <span>
#include <vector>

#include "audio/shape_converter.h"
#include "support/audio_compare.h"
#include "twilio/mulaw.h"

using namespace callproxy;
using namespace callproxy::test;

TEST_CASE("Twilio's mu-law becomes each pcm16 shape in 20 ms frames, matching a reference conversion",
          "[audio][convert]") {
  // The caller's audio as Twilio sends it: the sweep in 8 kHz mu-law.
  const auto source = sweep(8000, 3.0);
  const auto pcm = to_pcm(source);
  std::vector<std::uint8_t> mulaw(pcm.size());
  twilio::mulaw_encode(pcm, mulaw);

  for (const int rate : {8000, 16000, 24000}) {
    INFO("pcm16@" << rate);
    audio::ToShape to(audio::AudioShape{audio::Codec::pcm16, rate, audio::Framing::json});
    std::vector<std::int16_t> got;
    for (std::size_t at = 0; at + 160 <= mulaw.size(); at += 160) {
      const auto bytes = to.convert(std::span(mulaw).subspan(at, 160));
      // Every frame is whole 16-bit samples, about 20 ms of them (the filter's start aside).
      REQUIRE(bytes.size() % 2 == 0);
      if (at > 0) CHECK(bytes.size() == static_cast<std::size_t>(rate / 50) * 2);
      const auto samples = from_le_bytes(bytes);
      got.insert(got.end(), samples.begin(), samples.end());
    }
    // The reference converts the same mu-law, decoded (mu-law's own noise is in both).
    const auto reference = mulaw_reference(mulaw, rate);
    // Aligned: a sample comes out where it went in (the other tracks line up on this).
    CHECK(best_lag(got, reference, rate) == 0);
    // Measured: 8 kHz is exact (inf); 16 and 24 kHz ~57 dB. Frames joined with a click, a
    // wrong rate or no interpolation filter fall far below.
    CHECK(snr_db(got, reference, rate) > 45.0);
  }
}

TEST_CASE("mu-law shapes leave the bytes as they are", "[audio][convert]") {
  const std::vector<std::uint8_t> frame{0x00, 0x7F, 0x80, 0xFF, 0x12};
  audio::ToShape to(audio::AudioShape{audio::Codec::mulaw, 8000, audio::Framing::binary});
  const auto out = to.convert(frame);
  CHECK(std::vector<std::uint8_t>(out.begin(), out.end()) == frame);
  audio::FromShape from(audio::AudioShape{audio::Codec::mulaw, 8000, audio::Framing::binary});
  const auto back = from.convert(frame);
  CHECK(std::vector<std::uint8_t>(back.begin(), back.end()) == frame);
}

TEST_CASE("a backend's pcm16 replies become 8 kHz mu-law with what 8 kHz cannot carry filtered out",
          "[audio][convert]") {
  for (const int rate : {8000, 16000, 24000}) {
    INFO("pcm16@" << rate);
    // The bot's speech in its own shape, with a 6 kHz tone on top where the rate has room for it:
    // decimated without a filter it would come back as a 2 kHz (or 10-6=4 kHz) alias.
    const auto source = sweep(rate, 3.0, rate > 12000 ? 6000 : 0);
    const auto pcm = to_pcm(source);
    const auto bytes = le_bytes(pcm);
    audio::FromShape from(audio::AudioShape{audio::Codec::pcm16, rate, audio::Framing::json});
    std::vector<std::int16_t> got;
    // 20 ms messages, each cut one byte off its boundary so samples straddle messages.
    const auto step = static_cast<std::size_t>(rate / 50) * 2;
    for (std::size_t at = 0; at < bytes.size(); at += step) {
      const auto begin = at == 0 ? 0 : at + 1;
      const auto end = std::min(bytes.size(), at + step + 1);
      const auto codes = from.convert(std::span(bytes).subspan(begin, end - begin));
      const auto samples = mulaw_to_pcm(codes);
      got.insert(got.end(), samples.begin(), samples.end());
    }
    // The reference: the sweep alone at 8 kHz (what a perfect filter leaves).
    const auto reference = sweep(8000, 3.0);
    CHECK(best_lag(got, reference, 8000) == 0);
    // Measured ~37 dB: mu-law's own noise (~38 dB) dominates. An alias of the 6 kHz tone
    // (a quarter of the level: 12 dB down) would bring it near 12 dB.
    CHECK(snr_db(got, reference, 8000) > 33.0);
  }
}

TEST_CASE("converters allocate nothing once the first frame has sized them", "[audio][convert]") {
  // Their buffers keep their capacity: the data pointers stay put from the second frame on.
  // (bench/run's callgrind rows count allocations per frame through serve itself.)
  audio::ToShape to(audio::AudioShape{audio::Codec::pcm16, 24000, audio::Framing::json});
  const std::vector<std::uint8_t> frame(160, 0x55);
  to.convert(frame);  // the first is short by the filter's delay: the second sizes them
  const auto second = to.convert(frame);
  CHECK(second.size() == 960);
  for (int i = 0; i < 50; ++i) CHECK(to.convert(frame).data() == second.data());
}

TEST_CASE("a reply holding no whole sample gives no audio, and the sample split across replies is joined",
          "[audio][convert]") {
  for (const int rate : {8000, 16000, 24000}) {
    INFO("pcm16@" << rate);
    audio::FromShape from(audio::AudioShape{audio::Codec::pcm16, rate, audio::Framing::binary});
    CHECK(from.convert({}).empty());
    const std::vector<std::uint8_t> one{0x10};
    CHECK(from.convert(one).empty());  // half a sample: nothing yet, and no silence made up
  }
  audio::Resampler up(8000, 16000);
  std::vector<std::int16_t> out{7};
  up.process({}, out);
  CHECK(out == std::vector<std::int16_t>{7});  // nothing in: nothing appended
}
