// The built-in recorder through the real binary (docs/serve.md, "Recording calls"): a call
// recorded as a WAV named by its SID with a sidecar, what kill -9 leaves, a full disk, and
// record: entries serve cannot honour.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sndfile.h>
#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include "proxy/media/backend_target.h"
#include "proxy/media/recording.h"
#include "support/audio_compare.h"
#include "support/child_process.h"
#include "support/local_speaker.h"
#include "support/media_call.h"
#include "support/wait.h"
#include "support/ws_peer.h"
#include "test_data.h"
#include "twilio/audio_file.h"
#include "twilio/backend_protocol.h"
#include "twilio/base64.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;
using test::BackendServer;
using test::metric;
using test::TwilioCall;

namespace {

struct Wav {
  int channels = 0, rate = 0, format = 0;
  std::vector<std::int16_t> samples;  // interleaved
};

Wav read_wav(const std::string& path) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  INFO(path << ": " << sf_strerror(nullptr));
  REQUIRE(f);
  Wav w{info.channels, info.samplerate, info.format, {}};
  w.samples.resize(static_cast<std::size_t>(info.frames * info.channels));
  sf_readf_short(f, w.samples.data(), info.frames);
  sf_close(f);
  return w;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("record:stereo writes the call as a WAV named by its SID, caller left and primary right, with a sidecar",
          "[media][recording]") {
  const auto dir = test::temp_path("recordings");  // made by serve, 0700
  auto serve = test::start_serve({"--record-dir", dir});
  auto speaker = test::start_speaker({"--output", "null", "--echo"});
  const json hosts{speaker.host_port(), "record:stereo"};
  const auto call = test::run_command(
      test::callproxy_args({"client-test", "--url", "ws://127.0.0.1:" + std::to_string(serve.port) + "/media", "--once",
                            "--json", "--backend-hosts", hosts.dump()}));
  INFO(call.out << call.err << serve.process->err());
  REQUIRE(call.exit_code == 0);
  test::stop(speaker);
  const auto summary = json::parse(call.out);
  const auto call_sid = summary.at("callSid").get<std::string>();
  const auto frames = summary.at("framesSent").get<std::size_t>();

  const auto wav = dir + "/" + call_sid + ".wav", sidecar = dir + "/" + call_sid + ".json";
  REQUIRE(test::eventually([&] { return std::filesystem::exists(sidecar); }, 10s));  // written last
  CHECK(mode_of(dir) == 0700);
  CHECK(mode_of(wav) == 0600);
  CHECK(mode_of(sidecar) == 0600);
  const auto recorded = read_wav(wav);
  CHECK(recorded.channels == 2);
  CHECK(recorded.rate == 8000);
  CHECK((recorded.format & SF_FORMAT_SUBMASK) == SF_FORMAT_PCM_16);
  REQUIRE(recorded.samples.size() == frames * 160 * 2);
  // The caller left, sample for sample what was sent; the primary's echo right.
  const auto sent = test::mulaw_to_pcm(test::sample_call_mulaw());
  std::vector<std::int16_t> left, right;
  for (std::size_t i = 0; i < recorded.samples.size(); i += 2) {
    left.push_back(recorded.samples[i]);
    right.push_back(recorded.samples[i + 1]);
  }
  CHECK(std::equal(sent.begin(), sent.end(), left.begin()));
  const auto heard = static_cast<std::size_t>(std::count_if(right.begin(), right.end(), [](auto v) { return v != 0; }));
  CHECK(heard > sent.size() / 2);

  const auto meta = json::parse(test::read_file(sidecar));
  CHECK(meta.at("file") == call_sid + ".wav");
  CHECK(meta.at("callSid") == call_sid);
  CHECK(meta.at("streamSid").get<std::string>().rfind("MZ", 0) == 0);
  CHECK(meta.at("audio") == "pcm16@8000");
  CHECK(meta.at("tracks") == "stereo");
  CHECK(meta.at("durationSeconds").get<double>() == Approx(static_cast<double>(frames) * 0.02));
  CHECK(meta.at("framesDropped") == 0);
  CHECK(meta.at("complete") == true);
  CHECK(meta.at("silenceSeconds").at("caller").get<double>() >= 0);
  CHECK(meta.at("silenceSeconds").at("primary").get<double>() > 0);  // before the first echo at least
  CHECK(meta.at("startedAt").get<std::string>().size() == 24);       // 2026-12-07T04:30:35.099Z
  CHECK(metric(serve.port, "callproxy_recordings_total") == 1);
  CHECK(metric(serve.port, "callproxy_recording_errors_total") == 0);
}

TEST_CASE("kill -9 in the middle of a recorded call leaves a readable WAV holding all but the last second",
          "[media][recording][faults]") {
  const auto dir = test::temp_path("recordings");
  auto serve = test::start_serve({"--record-dir", dir, "--max-backend-lag", "60s"});
  TwilioCall call(serve.port, {{"backendHosts", json{"record:#audio=pcm16@16000"}.dump()}});
  call.start();
  constexpr std::size_t sent = 175;  // 3.5 s: three whole seconds handed to the writer, half of one not
  for (std::size_t i = 0; i < sent; ++i) call.media(i);
  const auto wav = dir + "/" + call.writer.identity().call_sid + ".wav";
  const auto three_seconds = 44 + 150 * 640 - 96;  // less what the resampler holds back (3 ms)
  REQUIRE(test::eventually(
      [&] {
        std::error_code ec;
        return std::filesystem::file_size(wav, ec) >= static_cast<std::uintmax_t>(three_seconds) && !ec;
      },
      10s));
  serve.process->signal(SIGKILL);
  serve.process->wait();

  const auto recorded = read_wav(wav);
  CHECK(recorded.channels == 1);
  CHECK(recorded.rate == 16000);
  CHECK(recorded.samples.size() >= (sent - 50) * 320 - 48);  // all but the last second at most
  CHECK(recorded.samples.size() <= sent * 320);
  CHECK_FALSE(std::filesystem::exists(dir + "/" + call.writer.identity().call_sid + ".json"));  // never finished
}

TEST_CASE("a full disk under --record-dir: the recording stops, is logged and counted, the call goes on",
          "[media][recording][faults]") {
  if (!test::can_use_mount_namespaces()) {
    WARN("skipped: needs root and unshare for a small tmpfs of its own");
    return;
  }
  const auto dir = test::temp_path("small-disk");
  std::filesystem::create_directories(dir);
  BackendServer listener;
  auto serve = test::start_serve({"--record-dir", dir, "--max-backend-lag", "60s"}, {},
                                 test::in_private_mount_namespace("mount -t tmpfs -o size=64k tmpfs " + dir));
  TwilioCall call(serve.port, {{"backendHosts", json{"record:#audio=pcm16@24000", listener.host_port()}.dump()}});
  call.start();
  REQUIRE(listener.wait_for_messages(1));
  constexpr std::size_t frames = 250;  // 5 s at 24 kHz: 240 KB, far past the disk's 64 KB
  for (std::size_t i = 0; i < frames; ++i) call.media(i);
  call.stop();
  REQUIRE(listener.wait_for_messages(frames + 2));  // the other backend got every frame
  CHECK_NOTHROW(serve.process->wait_for_stderr("the call goes on without it", 10s));
  CHECK(test::eventually([&] { return metric(serve.port, "callproxy_recording_errors_total") >= 1; }, 10s));
  CHECK(::kill(serve.process->pid(), 0) == 0);
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
}

TEST_CASE("record: with no --record-dir: refused at start as the default backend, per call otherwise",
          "[media][recording][bad-input]") {
  const auto start = test::run_command(test::callproxy_args({"serve", "--port", "0", "--backend", "record:stereo"}));
  CHECK(start.exit_code != 0);
  CHECK_THAT(start.err, Catch::Contains("--backend record:stereo: a recording needs --record-dir"));

  BackendServer good;
  auto serve = test::start_serve();
  TwilioCall call(serve.port, {{"backendHosts", json{"record:", good.host_port()}.dump()}});
  call.start();
  call.media(0);
  REQUIRE(good.wait_for_messages(2));
  CHECK_NOTHROW(serve.process->wait_for_stderr("backend record: refused: serve has no --record-dir", 10s));
  CHECK(metric(serve.port, "callproxy_backends_refused_total{reason=\"invalid\"}") == 1);

  for (const auto& [entry, error] : std::vector<std::pair<std::string, std::string>>{
           {"record:both", "expected record:, record:stereo or record:mix"},
           {"record:#tracks=both", "record:stereo holds both sides"},
           {"record:#frames=json", "takes no frames="},
           {"record:stereo#audio=mulaw@8000", "tracks=stereo is 16-bit PCM"},
           {"record:stereo#tracks=mix", "tracks given twice"}}) {
    INFO(entry);
    const auto parsed = proxy::parse_backend(entry);
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.error(), Catch::Contains(error));
  }
}

TEST_CASE("a record: entry named first is not the primary: the next backend's replies reach the caller",
          "[media][recording]") {
  BackendServer bot;
  auto serve = test::start_serve({"--record-dir", test::temp_path("recordings")});
  TwilioCall call(serve.port, {{"backendHosts", json{"record:", bot.host_port()}.dump()}});
  call.start();
  call.media(0);
  REQUIRE(bot.wait_for_messages(2));
  const auto payload = twilio::base64_encode(std::string(160, '\x33'));
  bot.send_text(twilio::write_simple_media(payload));
  const auto reply = call.ws.receive();
  REQUIRE(reply);
  CHECK(json::parse(*reply).at("media").at("payload") == payload);
}

TEST_CASE("a recording's name comes from a SID, never from other text on the wire", "[media][recording]") {
  CHECK(proxy::recording_stem("CA0123456789abcdef0123456789abcdef", "MZ1") == "CA0123456789abcdef0123456789abcdef");
  CHECK(proxy::recording_stem("../../etc/passwd", "MZ77") == "MZ77");
  CHECK(proxy::recording_stem("", "MZ/1") == "call");
  CHECK(proxy::recording_stem(std::string(65, 'A'), "") == "call");
  CHECK(proxy::recording_stem("CA 1", "MZ\n") == "call");
}
