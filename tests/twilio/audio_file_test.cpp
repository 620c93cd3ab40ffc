#include <catch2/catch.hpp>

#include <sndfile.h>

#include <cmath>
#include <fstream>

#include "assets/sample_call.h"
#include "core/shared_library.h"
#include "support/null_audio.h"
#include "test_data.h"
#include "twilio/audio_file.h"
#include "twilio/mulaw.h"

using namespace callproxy;

namespace {

void write_pcm_wav(const std::string& path, int rate, int channels, const std::vector<std::int16_t>& interleaved) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  REQUIRE(f);
  sf_writef_short(f, interleaved.data(), static_cast<sf_count_t>(interleaved.size() / channels));
  sf_close(f);
}

}  // namespace

TEST_CASE("the bundled sample call is 8 kHz mu-law and read byte for byte", "[audio]") {
  const auto from_memory = twilio::read_call_audio(assets::sample_call_wav(), "sample");
  REQUIRE(from_memory.ok());
  const auto from_file = twilio::read_call_audio(std::string(CALLPROXY_ASSETS) + "/sample-call-ulaw.wav");
  REQUIRE(from_file.ok());
  CHECK(from_memory.value() == from_file.value());
  CHECK(from_memory.value().size() > 8000 * 3);  // a few seconds
  // The bytes are the WAV's data chunk itself: no decode/encode on the way.
  const auto raw = test::read_file(std::string(CALLPROXY_ASSETS) + "/sample-call-ulaw.wav");
  const auto data = raw.find("data");
  REQUIRE(data != std::string::npos);
  CHECK(std::equal(from_file.value().begin(), from_file.value().end(),
                   reinterpret_cast<const std::uint8_t*>(raw.data() + data + 8)));
}

TEST_CASE("8 kHz 16-bit PCM converts exactly, other rates and stereo are resampled and mixed down", "[audio]") {
  std::vector<std::int16_t> ramp;
  for (int i = 0; i < 8000; ++i) ramp.push_back(static_cast<std::int16_t>((i * 37) % 20000 - 10000));
  const auto pcm8k = test::temp_path("pcm8k.wav");
  write_pcm_wav(pcm8k, 8000, 1, ramp);
  const auto exact = twilio::read_call_audio(pcm8k);
  REQUIRE(exact.ok());
  REQUIRE(exact.value().size() == ramp.size());
  for (std::size_t i = 0; i < ramp.size(); ++i) REQUIRE(exact.value()[i] == twilio::mulaw_encode(ramp[i]));

  // One second of a 440 Hz tone at 44.1 kHz stereo becomes one second at 8 kHz, still 440 Hz.
  std::vector<std::int16_t> stereo;
  for (int i = 0; i < 44100; ++i) {
    const auto v = static_cast<std::int16_t>(12000 * std::sin(2 * M_PI * 440 * i / 44100.0));
    stereo.push_back(v);
    stereo.push_back(v);
  }
  const auto cd = test::temp_path("cd.wav");
  write_pcm_wav(cd, 44100, 2, stereo);
  const auto converted = twilio::read_call_audio(cd);
  REQUIRE(converted.ok());
  CHECK(std::abs(static_cast<long>(converted.value().size()) - 8000) <= 2);
  double error = 0;
  for (std::size_t i = 100; i < 7900; ++i) {
    const double want = 12000 * std::sin(2 * M_PI * 440 * static_cast<double>(i) / 8000.0);
    error += std::abs(twilio::mulaw_decode(converted.value()[i]) - want);
  }
  CHECK(error / 7800 < 400);  // mu-law's own quantisation is a few hundred at this level
  std::remove(pcm8k.c_str());
  std::remove(cd.c_str());
}

TEST_CASE("unreadable audio files are refused with the file named", "[audio]") {
  const auto missing = twilio::read_call_audio(std::string("/nonexistent/call.wav"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().find("/nonexistent/call.wav") != std::string::npos);
  const auto text = test::temp_path("not.wav");
  std::ofstream(text) << "this is not a WAV file";
  const auto garbage = twilio::read_call_audio(text);
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.error().find(text) != std::string::npos);
  std::remove(text.c_str());
}

// Found by fuzzing (tests/fuzz/fuzz_audio_file.cpp): a few samples at a high rate resample to
// none, and were returned as an empty call instead of an error.
TEST_CASE("a file too short to make one 8 kHz sample is refused as holding no audio", "[audio][fuzz][bad-input]") {
  // What the fuzzer found: an Akai MPC 2000 file of 7 stereo frames at 65535 Hz.
  std::vector<std::uint8_t> mpc{0x01, 0x04, 0x41, 0x00, 0xf4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21};
  mpc.insert(mpc.end(), 55, 0xff);
  mpc.insert(mpc.end(), {0x23, 0xff, 0x0a, 0xff, 0xff});
  const auto found = twilio::read_call_audio(mpc, "found.mpc");
  REQUIRE_FALSE(found.ok());
  CHECK_THAT(found.error(), Catch::Contains("'found.mpc' holds no audio"));

  // The same in a WAV: one frame at 192 kHz.
  const auto path = test::temp_path("one-frame.wav");
  write_pcm_wav(path, 192000, 1, {1000});
  const auto wav = twilio::read_call_audio(path);
  REQUIRE_FALSE(wav.ok());
  CHECK_THAT(wav.error(), Catch::Contains("holds no audio"));
  std::remove(path.c_str());
}

TEST_CASE("mu-law WAV files written are read back identically", "[audio]") {
  std::vector<std::uint8_t> codes;
  for (int i = 0; i < 1000; ++i) codes.push_back(static_cast<std::uint8_t>(i * 7));
  const auto path = test::temp_path("out.wav");
  REQUIRE(twilio::write_mulaw_wav(path, codes).ok());
  const auto back = twilio::read_call_audio(path);
  REQUIRE(back.ok());
  CHECK(back.value() == codes);
  std::remove(path.c_str());
  CHECK_FALSE(twilio::write_mulaw_wav("/nonexistent/dir/x.wav", codes).ok());
}

TEST_CASE("the capture comparer finds sent audio at an offset and refuses audio that differs", "[audio]") {
  const auto sample = std::string(CALLPROXY_ASSETS) + "/sample-call-ulaw.wav";
  const auto codes = twilio::read_call_audio(sample);
  REQUIRE(codes.ok());
  std::vector<std::int16_t> pcm(codes.value().size());
  twilio::mulaw_decode(codes.value(), pcm);
  // `samples` written as a recorder's capture would be, then compared with what was sent.
  const auto path = test::temp_path("capture.wav");
  const auto compare = [&](const std::vector<std::int16_t>& samples, int tail_ms = 0, int rate = 8000) {
    write_pcm_wav(path, rate, 1, samples);
    return test::compare_capture(path, sample, tail_ms);
  };
  // What a recorder would hold: 0.25 s of silence, the call, 0.1 s more.
  std::vector<std::int16_t> capture(2000, 0);
  capture.insert(capture.end(), pcm.begin(), pcm.end());
  capture.insert(capture.end(), 800, 0);
  const auto found = compare(capture);
  INFO(found.report);
  CHECK(found.matches);
  CHECK(found.report.find("found at 0.25") != std::string::npos);

  // A player that underran twice: 60 ms and 100 ms of silence inserted, the audio after them
  // whole. Followed and reported; the same gaps with 20 ms of the audio lost are not accepted.
  auto underrun = capture;
  underrun.insert(underrun.begin() + 2000 + 12345, 480, 0);
  underrun.insert(underrun.begin() + 2000 + 30000, 800, 0);
  const auto followed = compare(underrun);
  INFO(followed.report);
  CHECK(followed.matches);
  CHECK(followed.report.find("after 2 gap(s) of silence (160") != std::string::npos);
  auto lost = underrun;
  lost.erase(lost.begin() + 2000 + 20000, lost.begin() + 2000 + 20160);
  const auto lost_found = compare(lost);
  INFO(lost_found.report);
  CHECK_FALSE(lost_found.matches);
  // Too many underruns are a player that cannot keep up, even with nothing lost.
  auto stutter = capture;
  for (std::size_t at = 2000 + 5000; at < 2000 + 40000; at += 5000) stutter.insert(stutter.begin() + at, 160, 0);
  const auto stuttered = compare(stutter);
  INFO(stuttered.report);
  CHECK_FALSE(stuttered.matches);
  CHECK(stuttered.report.find("after 7 gap(s)") != std::string::npos);

  // Two seconds replaced by noise: under 99% of the samples match.
  for (std::size_t i = 10000; i < 26000 && i < capture.size(); ++i)
    capture[i] = static_cast<std::int16_t>((i * 7919) % 20000 - 10000);
  const auto differs = compare(capture);
  INFO(differs.report);
  CHECK_FALSE(differs.matches);

  // Cut short (the end missing) is only accepted when that tail is allowed for.
  const std::vector<std::int16_t> cut(pcm.begin(), pcm.end() - 1600);
  CHECK_FALSE(compare(cut).matches);
  CHECK(compare(cut, 200).matches);
  // A different rate is an error, not a match.
  CHECK(compare(capture, 0, 16000).report.find("rates differ") != std::string::npos);
  std::remove(path.c_str());
}

TEST_CASE("a library opened at run time that is missing is named with the package that installs it", "[audio]") {
  const auto missing = SharedLibrary::open("libcallproxy-absent.so.7", "libcallproxy-absent7");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error(), Catch::StartsWith("libcallproxy-absent.so.7 cannot be loaded (install the "
                                                "libcallproxy-absent7 package): "));

  auto sndfile = SharedLibrary::open("libsndfile.so.1", "libsndfile1");
  REQUIRE(sndfile);
  int (*close)(SNDFILE*) = nullptr;
  CHECK(sndfile.value().bind(close, "sf_close"));
  CHECK(close != nullptr);
  void (*absent)() = nullptr;
  CHECK_FALSE(sndfile.value().bind(absent, "sf_no_such_function"));
  CHECK(sndfile.value().error() ==
        "libsndfile.so.1 has no symbol sf_no_such_function: it is not the version callproxy was built for");
}
