// The whole path on one machine, as a user runs it: client-test (as Twilio) -> serve ->
// local-speaker (as a backend), with real audio out through PortAudio into a null sink.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <sndfile.h>

#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "support/child_process.h"
#include "support/local_speaker.h"
#include "support/null_audio.h"
#include "support/test_secrets.h"
#include "support/wait.h"
#include "support/ws_peer.h"
#include "test_data.h"
#include "twilio/audio_file.h"
#include "twilio/backend_protocol.h"
#include "twilio/mulaw.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;

using test::Speaker;
using test::start_speaker;
using test::stop;

namespace {

const std::string sample = std::string(CALLPROXY_ASSETS) + "/sample-call-ulaw.wav";

test::CommandResult client_test(unsigned short serve_port, std::vector<std::string> args, test::EnvChanges env = {}) {
  args.insert(args.begin(), {"client-test", "--url", "ws://127.0.0.1:" + std::to_string(serve_port) + "/media"});
  return test::run_command(test::callproxy_args(args), std::move(env));
}

std::vector<std::int16_t> read_pcm(const std::string& path) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  REQUIRE(f);
  CHECK(info.samplerate == 8000);
  CHECK(info.channels == 1);
  std::vector<std::int16_t> samples(static_cast<std::size_t>(info.frames));
  sf_readf_short(f, samples.data(), info.frames);
  sf_close(f);
  return samples;
}

// The power of one frequency in a window (Goertzel), normalised by the window's length.
double tone_power(const std::int16_t* x, std::size_t n, double hz) {
  const double w = 2 * M_PI * hz / 8000.0, c = 2 * std::cos(w);
  double s1 = 0, s2 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double s0 = x[i] + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - c * s1 * s2) / static_cast<double>(n * n);
}

std::string tone_wav(double hz, double seconds) {
  std::vector<std::uint8_t> codes;
  for (int i = 0; i < static_cast<int>(seconds * 8000); ++i) {
    codes.push_back(twilio::mulaw_encode(static_cast<std::int16_t>(8000 * std::sin(2 * M_PI * hz * i / 8000.0))));
  }
  const auto path = test::temp_path(std::to_string(static_cast<int>(hz)) + "hz.wav");
  REQUIRE(twilio::write_mulaw_wav(path, codes).ok());
  return path;
}

}  // namespace

TEST_CASE("the sample call plays through PortAudio exactly as it was sent", "[e2e][audio]") {
  test::NullAudio audio;
  auto serve = test::start_serve();
  auto speaker = start_speaker({}, audio.env());
  const auto capture = test::temp_path("capture.wav");
  audio.record_start(capture);
  const auto call = client_test(serve.port, {"--once", "--backend-hosts", json::array({speaker.host_port()}).dump()});
  INFO(call.out << call.err);
  REQUIRE(call.exit_code == 0);
  speaker.process->wait_for_stderr("ended: received");  // its tail has been played
  stop(speaker);
  audio.record_stop();
  const auto compared = test::compare_capture(capture, sample);
  INFO(compared.report << speaker.process->err());
  CHECK(compared.matches);
  std::remove(capture.c_str());
}

TEST_CASE("local-speaker --output wav writes exactly what it played", "[e2e]") {
  auto serve = test::start_serve();
  const auto out = test::temp_path("played.wav");
  auto speaker = start_speaker({"--output", "wav", "--wav-out", out});
  const auto call = client_test(serve.port, {"--once", "--backend-hosts", json::array({speaker.host_port()}).dump()});
  REQUIRE(call.exit_code == 0);
  speaker.process->wait_for_stderr("ended: received");
  stop(speaker);
  const auto compared = test::compare_capture(out, sample);
  INFO(compared.report);
  CHECK(compared.matches);
  std::remove(out.c_str());
}

TEST_CASE("the echo round trip brings the caller's own audio back", "[e2e]") {
  auto serve = test::start_serve();
  auto speaker = start_speaker({"--output", "null", "--echo"});
  const auto replies = test::temp_path("replies.wav");
  const auto call = client_test(serve.port, {"--once", "--json", "--save-replies", replies, "--backend-hosts",
                                             json::array({speaker.host_port()}).dump()});
  INFO(call.out << call.err);
  REQUIRE(call.exit_code == 0);
  const auto summary = json::parse(call.out);
  CHECK(summary.at("ok") == true);
  // The echo of the last frames may still be on its way when the call hangs up (client-test
  // gives replies 0.7 s after its stop, and a loaded CI machine can be slower): allow 0.3 s.
  CHECK(summary.at("repliesReceived").get<int>() >= summary.at("framesSent").get<int>() - 15);
  const auto compared = test::compare_capture(replies, sample, 300);
  INFO(compared.report);
  CHECK(compared.matches);
  stop(speaker);
  std::remove(replies.c_str());
}

TEST_CASE("two concurrent calls are mixed, not interleaved", "[e2e]") {
  auto serve = test::start_serve();
  const auto out = test::temp_path("mixed.wav");
  auto speaker = start_speaker({"--output", "wav", "--wav-out", out});
  const auto low = tone_wav(400, 3), high = tone_wav(1000, 3);
  const auto hosts = json::array({speaker.host_port()}).dump();
  test::ChildProcess first(
      test::callproxy_args({"client-test", "--url", "ws://127.0.0.1:" + std::to_string(serve.port) + "/media", "--once",
                            "--wav", low, "--backend-hosts", hosts}));
  const auto second = client_test(serve.port, {"--once", "--wav", high, "--backend-hosts", hosts});
  CHECK(first.wait() == 0);
  CHECK(second.exit_code == 0);
  speaker.process->wait_for_stderr("ended: received");
  stop(speaker);

  const auto played = read_pcm(out);
  // Mixed: about 3 s of output (not 6), and in the middle every 20 ms holds both tones.
  CHECK(played.size() < 8000 * 4.5);
  std::size_t windows = 0, both = 0;
  for (std::size_t at = 8000; at + 160 <= 20000; at += 160, ++windows) {  // 1 s to 2.5 s
    const double p400 = tone_power(&played[at], 160, 400), p1000 = tone_power(&played[at], 160, 1000);
    if (p400 > 1e5 && p1000 > 1e5) ++both;
  }
  CHECK(both >= windows * 9 / 10);
  std::remove(out.c_str());
  std::remove(low.c_str());
  std::remove(high.c_str());
}

TEST_CASE("local-speaker's WAV file is valid after SIGTERM in the middle of a call", "[e2e]") {
  auto serve = test::start_serve();
  const auto out = test::temp_path("cut.wav");
  auto speaker = start_speaker({"--output", "wav", "--wav-out", out});
  test::ChildProcess call(
      test::callproxy_args({"client-test", "--url", "ws://127.0.0.1:" + std::to_string(serve.port) + "/media", "--once",
                            "--backend-hosts", json::array({speaker.host_port()}).dump()}));
  speaker.process->wait_for_stderr("started");
  // In the middle of the call: once the file holds a second of it (the WAV header is rewritten
  // after every write, so its size is what was played; 16-bit samples at 8 kHz).
  const auto header_bytes = 44;
  REQUIRE(test::eventually(
      [&] {
        std::error_code error;
        const auto size = std::filesystem::file_size(out, error);
        return !error && size >= header_bytes + 8000 * 2;
      },
      20s));
  stop(speaker);
  const auto played = read_pcm(out);
  CHECK(played.size() > 8000 / 2);
  CHECK(played.size() < 8000 * 6);
  call.wait();
  std::remove(out.c_str());
}

// --no-pace sends a whole call at once: more than the proxy's default lag allowance while its
// backend is still connecting, so these servers allow more.
const std::vector<std::string> burst_tolerant{"--max-backend-lag", "60"};

TEST_CASE("client-test presses keys when asked and the backend hears them", "[e2e]") {
  test::BackendServer backend;
  auto serve = test::start_serve(burst_tolerant);
  const auto call = client_test(
      serve.port, {"--once", "--no-pace", "--dtmf", "5#@0.1", "--execution-id", "FN9", "--param", "pin=1234",
                   "--backend-hosts", json::array({backend.host_port()}).dump()});
  REQUIRE(call.exit_code == 0);
  REQUIRE(backend.wait_for_messages(4));
  std::vector<std::string> digits;
  twilio::StartMessage start;
  for (const auto& text : backend.messages()) {
    const auto read = twilio::read_backend_message(text);
    REQUIRE(read.ok());
    const auto& message = read.value().message;
    if (const auto* dtmf = std::get_if<twilio::DtmfMessage>(&message)) digits.push_back(dtmf->digit);
    if (const auto* started = std::get_if<twilio::StartMessage>(&message)) start = *started;
  }
  CHECK(digits == std::vector<std::string>{"5", "#"});
  CHECK(start.custom_parameters["executionId"] == "FN9");
  CHECK(start.custom_parameters["pin"] == "1234");
}

TEST_CASE("client-test load mode runs concurrent calls and sums them up", "[e2e]") {
  auto serve = test::start_serve();
  auto speaker = start_speaker({"--output", "null"});
  const auto load = client_test(serve.port, {"--calls", "4", "--duration", "1", "--json", "--backend-hosts",
                                             json::array({speaker.host_port()}).dump()});
  INFO(load.out << load.err);
  CHECK(load.exit_code == 0);
  std::size_t calls = 0;
  json totals;
  std::istringstream lines(load.out);
  for (std::string line; std::getline(lines, line);) {
    const auto j = json::parse(line);
    if (j.contains("summary")) totals = j.at("summary");
    else {
      ++calls;
      CHECK(j.at("framesSent") == 50);  // 1 s of 20 ms frames
    }
  }
  CHECK(calls == 4);
  CHECK(totals.at("calls") == 4);
  CHECK(totals.at("failed") == 0);
  stop(speaker);
}

TEST_CASE("client-test refuses bad input with exit 2 and one line saying why", "[e2e][bad-input]") {
  const auto text_file = test::temp_path("not-audio.wav");
  std::ofstream(text_file) << "just text";
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const Case cases[] = {
      {{"client-test", "--once", "--wav", text_file}, text_file.c_str()},
      {{"client-test", "--once", "--wav", "/nonexistent.wav"}, "--wav"},
      {{"client-test", "--once", "--url", "http://localhost/media"}, "--url"},
      {{"client-test", "--once", "--dtmf", "5"}, "DIGITS@SECONDS"},
      {{"client-test", "--once", "--dtmf", "x@1"}, "DTMF digits"},
      {{"client-test", "--once", "--every", "5"}, "--every"},
      {{"client-test", "--once", "--param", "novalue"}, "KEY=VALUE"},
  };
  for (const auto& c : cases) {
    const auto r = test::run_command(test::callproxy_args(c.args));
    INFO(c.message << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(c.message) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  std::remove(text_file.c_str());
}

TEST_CASE("client-test --once exits 1 with the reason when the call does not go through", "[e2e][bad-input]") {
  const unsigned short closed_port = [] {
    test::BackendServer gone;
    return gone.port();
  }();
  const auto absent = test::run_command(test::callproxy_args(
      {"client-test", "--once", "--url", "ws://127.0.0.1:" + std::to_string(closed_port) + "/media"}));
  CHECK(absent.exit_code == 1);
  CHECK(absent.err.find("cannot connect") != std::string::npos);

  auto serve = test::start_serve({"--validate-signatures"}, {{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}});
  const auto forged = client_test(serve.port, {"--once", "--auth-token", test::secrets::other_auth_token});
  CHECK(forged.exit_code == 1);
  CHECK(forged.err.find("HTTP 403") != std::string::npos);

  // The server hangs up early (no backend): that is a failure too, with the close reason.
  auto open_serve = test::start_serve();
  const auto dropped = client_test(
      open_serve.port, {"--once", "--backend-hosts", R"(["127.0.0.1:)" + std::to_string(closed_port) + R"("])"});
  CHECK(dropped.exit_code == 1);
  CHECK(dropped.err.find("no backend left") != std::string::npos);
}

TEST_CASE("client-test signs the handshake so a validating server lets it in", "[e2e]") {
  test::BackendServer backend;
  auto serve = test::start_serve({"--validate-signatures", "--max-backend-lag", "60"},
                                 {{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}});
  const auto call = client_test(serve.port,
                                {"--once", "--no-pace", "--backend-hosts", json::array({backend.host_port()}).dump()},
                                {{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}});
  INFO(call.err);
  CHECK(call.exit_code == 0);
}

TEST_CASE("local-speaker without a sound device says so and exits 2", "[e2e][bad-input]") {
  // A PulseAudio address where none runs: ALSA's default device cannot open.
  const auto r = test::run_command(test::callproxy_args({"local-speaker", "--port", "0"}),
                                   {{"PULSE_SERVER", "unix:/nonexistent/pulse"}, {"PULSE_COOKIE", "/nonexistent"}});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--output wav") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  const auto no_file = test::run_command(test::callproxy_args({"local-speaker", "--output", "wav"}));
  CHECK(no_file.exit_code == 2);
  CHECK(no_file.err.find("--wav-out") != std::string::npos);
}

TEST_CASE("local-speaker answers paths other than its own with 404", "[e2e][bad-input]") {
  auto speaker = start_speaker({"--output", "null"});
  try {
    test::WsClient wrong(speaker.port, "/elsewhere");
    FAIL("a stream on the wrong path was accepted");
  } catch (const test::HandshakeRefused& e) {
    CHECK(e.status == 404);
  }
  // Garbage on the right path is ignored; the speaker carries on.
  test::WsClient client(speaker.port, "/media");
  client.send_text("not json");
  client.send_binary(R"({"event":"media","media":"!!!"})");
  speaker.process->wait_for_stderr("not valid base64");
  stop(speaker);
}
