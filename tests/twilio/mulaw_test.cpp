#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "test_data.h"
#include "twilio/mulaw.h"

using namespace callproxy;

namespace {

std::vector<std::int16_t> sox_decoded() {
  const auto bytes = test::read_file(test::data_path("sox-ulaw-decode.s16le"));
  REQUIRE(bytes.size() == 512);
  std::vector<std::int16_t> samples(256);
  for (std::size_t i = 0; i < 256; ++i) {
    const auto lo = static_cast<unsigned char>(bytes[2 * i]);
    const auto hi = static_cast<unsigned char>(bytes[2 * i + 1]);
    samples[i] = static_cast<std::int16_t>(lo | (hi << 8));
  }
  return samples;
}

}  // namespace

TEST_CASE("mu-law decoding of every code matches sox bit for bit", "[mulaw]") {
  const auto reference = sox_decoded();
  for (int code = 0; code < 256; ++code) {
    INFO("code " << code);
    CHECK(twilio::mulaw_decode(static_cast<std::uint8_t>(code)) == reference[code]);
  }
  CHECK(twilio::mulaw_decode(0x00) == -32124);
  CHECK(twilio::mulaw_decode(0x80) == 32124);
  CHECK(twilio::mulaw_decode(0xFF) == 0);
}

TEST_CASE("mu-law encoding of every 16-bit sample matches sox bit for bit", "[mulaw]") {
  const auto reference = test::read_file(test::data_path("sox-ulaw-encode-ramp.ulaw"));
  REQUIRE(reference.size() == 65536);
  std::size_t mismatches = 0;
  for (int sample = -32768; sample <= 32767; ++sample) {
    const int index = sample + 32768;
    const auto want = static_cast<std::uint8_t>(reference[static_cast<std::size_t>(index)]);
    if (twilio::mulaw_encode(static_cast<std::int16_t>(sample)) != want) {
      if (++mismatches <= 5) FAIL_CHECK("sample " << sample << " encodes differently from sox");
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("decoding every code and re-encoding it gives the code back", "[mulaw]") {
  for (int code = 0; code < 256; ++code) {
    const auto again = twilio::mulaw_encode(twilio::mulaw_decode(static_cast<std::uint8_t>(code)));
    INFO("code " << code);
    // 0x7F is G.711's "negative zero": it decodes to 0, which encodes as positive zero 0xFF.
    CHECK(again == (code == 0x7F ? 0xFF : code));
  }
}

TEST_CASE("buffer coding equals sample-by-sample coding", "[mulaw]") {
  std::vector<std::uint8_t> codes(256);
  for (int i = 0; i < 256; ++i) codes[i] = static_cast<std::uint8_t>(i);
  std::vector<std::int16_t> pcm(256);
  twilio::mulaw_decode(codes, pcm);
  std::vector<std::uint8_t> back(256);
  twilio::mulaw_encode(pcm, back);
  for (int i = 0; i < 256; ++i) {
    CHECK(pcm[i] == twilio::mulaw_decode(codes[i]));
    CHECK(back[i] == twilio::mulaw_encode(pcm[i]));
  }
}
