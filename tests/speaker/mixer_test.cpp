#include <catch2/catch.hpp>

#include "speaker/mixer.h"

using callproxy::speaker::Mixer;

namespace {

std::vector<std::int16_t> constant(std::size_t n, std::int16_t value) { return std::vector<std::int16_t>(n, value); }

std::vector<std::int16_t> pull(Mixer& mixer, std::size_t n) {
  std::vector<std::int16_t> out(n);
  mixer.mix(out);
  return out;
}

}  // namespace

TEST_CASE("a stream plays only once its jitter buffer is full, silence before", "[mixer]") {
  Mixer mixer(/*prebuffer=*/320);
  mixer.open(1);
  mixer.push(1, constant(160, 100));
  CHECK(pull(mixer, 160) == constant(160, 0));
  mixer.push(1, constant(160, 100));
  CHECK(pull(mixer, 160) == constant(160, 100));
  CHECK(pull(mixer, 160) == constant(160, 100));
}

TEST_CASE("concurrent streams are summed sample by sample, with saturation", "[mixer]") {
  Mixer mixer(160);
  mixer.open(1);
  mixer.open(2);
  std::vector<std::int16_t> a{1000, -1000, 30000, -30000}, b{234, 2000, 10000, -10000};
  a.resize(160, 7);
  b.resize(160, 8);
  mixer.push(1, a);
  mixer.push(2, b);
  const auto out = pull(mixer, 160);
  CHECK(out[0] == 1234);
  CHECK(out[1] == 1000);
  CHECK(out[2] == 32767);  // clipped, not wrapped
  CHECK(out[3] == -32768);
  CHECK(out[100] == 15);
}

TEST_CASE("an underrun plays silence, never old samples, and buffers up again", "[mixer]") {
  Mixer mixer(160);
  mixer.open(1);
  mixer.push(1, constant(200, 50));
  CHECK(pull(mixer, 160) == constant(160, 50));
  auto partial = pull(mixer, 160);  // 40 left: they play, then silence
  CHECK(std::count(partial.begin(), partial.end(), 50) == 40);
  CHECK(std::count(partial.begin(), partial.end(), 0) == 120);
  mixer.push(1, constant(100, 60));  // below the prebuffer again: waits
  CHECK(pull(mixer, 160) == constant(160, 0));
  mixer.push(1, constant(100, 60));
  CHECK(pull(mixer, 160) == constant(160, 60));
}

TEST_CASE("a closed stream plays its tail in full, then reports its statistics", "[mixer]") {
  Mixer mixer(1600);
  mixer.open(1, "MZ1");
  mixer.push(1, constant(100, 9));  // far below the prebuffer
  mixer.close(1);
  CHECK(mixer.active());
  const auto out = pull(mixer, 160);
  CHECK(std::count(out.begin(), out.end(), 9) == 100);
  CHECK_FALSE(mixer.active());
  const auto finished = mixer.take_finished();
  REQUIRE(finished.size() == 1);
  CHECK(finished[0].name == "MZ1");
  CHECK(finished[0].samples_received == 100);
  CHECK(finished[0].samples_played == 100);
  CHECK(finished[0].underruns == 0);
  CHECK(mixer.take_finished().empty());
}

TEST_CASE("a stream never holds more than its limit: the oldest audio goes", "[mixer]") {
  Mixer mixer(0, 320);
  mixer.open(1);
  mixer.push(1, constant(320, 1));
  mixer.push(1, constant(160, 2));
  CHECK(pull(mixer, 160) == constant(160, 1));
  CHECK(pull(mixer, 160) == constant(160, 2));
  mixer.close(1);
  pull(mixer, 160);
  CHECK(mixer.take_finished().at(0).samples_dropped == 160);
}
