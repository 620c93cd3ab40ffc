// The audio shapes' conversions against a reference: libsamplerate's best sinc converter (an
// independent implementation), run on the whole signal at once, while serve's converters take
// it in 20 ms frames as a call does. Agreement is an SNR over the telephone band, asserted with
// a margin below what was measured (docs/serve.md, "Audio shapes").
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <stdexcept>
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
    // Measured: 8 kHz is exact (inf); 16 and 24 kHz ~54 dB (the sweep reaches 4 kHz, where the
    // two filters differ most). Frames joined with a click, a
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

TEST_CASE("the upsampler passes the input through on its own samples and fills between them", "[audio][convert]") {
  CHECK_THROWS_AS(audio::Upsampler(4), std::invalid_argument);
  for (const int factor : {2, 3}) {
    INFO("factor " << factor);
    // An impulse at input sample 100: it comes out at output sample 100 * factor, whole, and the
    // samples between are the filter's (symmetric about it: no time shift).
    std::vector<std::int16_t> impulse(480, 0);
    impulse[100] = 16000;
    audio::Upsampler up(factor);
    std::vector<std::int16_t> out;
    for (std::size_t at = 0; at < impulse.size(); at += 160) up.process(std::span(impulse).subspan(at, 160), out);
    // What is held back (16 input samples) comes with the next frame.
    REQUIRE(out.size() == (impulse.size() - audio::Upsampler::lookahead) * static_cast<std::size_t>(factor));
    const auto peak = static_cast<std::size_t>(100 * factor);
    CHECK(out[peak] == 16000);
    for (std::size_t d = 1; d < static_cast<std::size_t>(16 * factor); ++d) {
      INFO("offset " << d);
      CHECK(std::abs(out[peak + d] - out[peak - d]) <= 1);
      if (d % static_cast<std::size_t>(factor) == 0) CHECK(out[peak + d] == 0);  // the other inputs' own samples
    }
    CHECK(out[peak + 1] > 8000);  // between samples: about where the sinc is at 1/factor

    // A constant is a constant at the new rate, exactly (each phase passes DC whole).
    std::vector<std::int16_t> level(800, -1234);
    audio::Upsampler flat(factor);
    std::vector<std::int16_t> flat_out;
    for (std::size_t at = 0; at < level.size(); at += 160) flat.process(std::span(level).subspan(at, 160), flat_out);
    for (std::size_t i = static_cast<std::size_t>(32 * factor); i < flat_out.size(); ++i) REQUIRE(flat_out[i] == -1234);

    // The output does not depend on how the input is cut: frames of 160, or odd pieces.
    const auto source = to_pcm(sweep(8000, 1.0));
    audio::Upsampler whole(factor), pieces(factor);
    std::vector<std::int16_t> a, b;
    for (std::size_t at = 0; at + 160 <= source.size(); at += 160) whole.process(std::span(source).subspan(at, 160), a);
    std::size_t at = 0;
    for (const std::size_t n : {1, 7, 15, 16, 17, 333, 1000}) {
      pieces.process(std::span(source).subspan(at, n), b);
      at += n;
    }
    pieces.process(std::span(source).subspan(at, a.size() / static_cast<std::size_t>(factor) + 16 - at), b);
    REQUIRE(b.size() == a.size());
    CHECK(a == b);
    // Full scale saturates rather than wraps: the filter overshoots a full-scale square wave, and
    // those samples stay at the limit, where half the level shows them twice as loud unclipped.
    std::vector<std::int16_t> full(320), half(320);
    for (std::size_t i = 0; i < full.size(); ++i) {
      full[i] = static_cast<std::int16_t>((i / 8) % 2 ? 32766 : -32766);
      half[i] = static_cast<std::int16_t>(full[i] / 2);
    }
    audio::Upsampler loud(factor), quiet(factor);
    std::vector<std::int16_t> loud_out, quiet_out;
    loud.process(full, loud_out);
    quiet.process(half, quiet_out);
    REQUIRE(loud_out.size() == quiet_out.size());
    std::size_t clipped = 0;
    for (std::size_t i = 0; i < loud_out.size(); ++i) {
      const int expected = std::clamp(2 * quiet_out[i], -32768, 32767);
      if (expected != 2 * quiet_out[i]) ++clipped;
      REQUIRE(std::abs(loud_out[i] - expected) <= 2);
    }
    CHECK(clipped > 0);  // the overshoot was there to clip
  }
}
