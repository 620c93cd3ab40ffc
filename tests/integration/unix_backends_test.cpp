// Backends on Unix sockets through the real binary (docs/serve.md, "Backends on Unix sockets"):
// serve's own --backend may name any socket; a call may name one only below a unix: folder of
// --backend-allow; the audio and the primary's replies go both ways as over TCP; a socket with
// nobody listening is a failed backend, counted, and the call goes on with the others.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/media_call.h"
#include "support/wait.h"
#include "support/ws_peer.h"
#include "test_data.h"
#include "twilio/backend_protocol.h"
#include "twilio/base64.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;
using test::BackendServer;
using test::metric;
using test::TwilioCall;

namespace {

// A folder of its own for a test's sockets (a socket's path is at most 107 bytes: temp_root() is short).
std::string socket_folder(const std::string& name) {
  const auto folder = test::temp_path(name);
  REQUIRE(::mkdir(folder.c_str(), 0700) == 0);
  return folder;
}

}  // namespace

TEST_CASE("a unix: backend gets Twilio's frames byte for byte and its replies reach the caller", "[media][unix]") {
  const auto folder = socket_folder("sockets");
  BackendServer bot(folder + "/bot.sock");
  BackendServer tcp_listener;  // the same call over TCP, for comparison
  auto serve = test::start_serve({"--backend", "unix:" + folder + "/bot.sock:/in", "--backend",
                                  "ws://" + tcp_listener.host_port() + "/media", "--backend-format", "twilio"});
  TwilioCall call(serve.port, {});
  call.start();
  std::vector<std::string> sent;
  for (std::size_t i = 0; i < 50; ++i) sent.push_back(call.media(i));
  const bool all = bot.wait_for_messages(2 + sent.size()) && tcp_listener.wait_for_messages(2 + sent.size());
  INFO(serve.process->err());
  REQUIRE(all);
  // The same messages on either kind of socket: Twilio's own, as they came.
  const auto got = bot.messages();
  CHECK(got == tcp_listener.messages());
  for (std::size_t i = 0; i < sent.size(); ++i) REQUIRE(got[i + 2] == sent[i]);
  CHECK(!serve.process->wait_for_stderr("backend unix:" + folder + "/bot.sock:/in connected").empty());

  // The socket's backend is the primary (first named): its reply reaches the caller.
  const std::string payload = twilio::base64_encode(std::string_view("\x01\x02\x03\x04"));
  bot.send_text(twilio::write_backend_reply(twilio::BackendFormat::twilio, twilio::ReplyMedia{"MZ-any", payload}));
  const auto reply = call.ws.receive();
  REQUIRE(reply);
  CHECK(json::parse(*reply).at("media").at("payload") == payload);
  call.stop();
  CHECK(bot.wait_closed());
}

TEST_CASE("a call names a Unix socket only below a unix: folder of --backend-allow", "[media][unix][allowlist]") {
  const auto allowed_folder = socket_folder("allowed");
  const auto other_folder = socket_folder("other");
  BackendServer allowed(allowed_folder + "/bot.sock"), outside(other_folder + "/bot.sock"), tcp_backend;

  SECTION("with a unix: folder in the list") {
    auto serve = test::start_serve({"--backend-allow", "unix:" + allowed_folder, "--backend-allow", "127.0.0.1:*"});
    const json hosts{"unix:" + allowed_folder + "/bot.sock", "unix:" + other_folder + "/bot.sock",
                     "unix:" + allowed_folder + "/../other/bot.sock", tcp_backend.host_port()};
    TwilioCall call(serve.port, {{"backendHosts", hosts.dump()}});
    call.start();
    call.media(0);
    REQUIRE(allowed.wait_for_messages(2));
    REQUIRE(tcp_backend.wait_for_messages(2));
    // Refused before anything connects: one not below the folder, one that climbs out of it (invalid).
    CHECK(metric(serve.port, "callproxy_backends_refused_total{reason=\"not_allowed\"}") == 1);
    CHECK(metric(serve.port, "callproxy_backends_refused_total{reason=\"invalid\"}") == 1);
    CHECK(outside.connections() == 0);
    CHECK(!serve.process->wait_for_stderr("needs a unix: folder in --backend-allow").empty());
  }
  SECTION("with no list, or one without unix: folders, no call names a socket") {
    const bool with_list = GENERATE(false, true);
    INFO("--backend-allow given: " << with_list);
    auto serve = with_list ? test::start_serve({"--backend-allow", "*:*"}) : test::start_serve();
    const json hosts{"unix:" + allowed_folder + "/bot.sock", tcp_backend.host_port()};
    TwilioCall call(serve.port, {{"backendHosts", hosts.dump()}});
    call.start();
    call.media(0);
    REQUIRE(tcp_backend.wait_for_messages(2));
    CHECK(metric(serve.port, "callproxy_backends_refused_total{reason=\"not_allowed\"}") == 1);
    CHECK(allowed.connections() == 0);
  }
}

TEST_CASE("a call naming serve's own unix: --backend still needs a unix: folder to reach it",
          "[media][unix][allowlist]") {
  const auto folder = socket_folder("operators");
  BackendServer admin(folder + "/admin.sock"), tcp_backend;
  auto serve = test::start_serve({"--backend", "unix:" + folder + "/admin.sock"});
  // A call without backends of its own gets the operator's socket ...
  {
    TwilioCall call(serve.port, {});
    call.start();
    call.media(0);
    REQUIRE(admin.wait_for_messages(2));
    call.stop();
  }
  // ... a call that names it itself does not: it is the call's entry, not the operator's.
  const json hosts{"unix:" + folder + "/admin.sock", tcp_backend.host_port()};
  TwilioCall call(serve.port, {{"backendHosts", hosts.dump()}});
  call.start();
  call.media(0);
  REQUIRE(tcp_backend.wait_for_messages(2));
  CHECK(metric(serve.port, "callproxy_backends_refused_total{reason=\"not_allowed\"}") == 1);
  CHECK(admin.connections() == 1);
}

TEST_CASE("a network --backend that --backend-allow can never allow stops serve at start", "[media][unix][bad-input]") {
  const auto result = test::run_command(test::callproxy_args(
      {"serve", "--port", "0", "--backend-allow", "unix:/run/callproxy", "--backend", "127.0.0.1:9000"}));
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.err, Catch::Contains("--backend 127.0.0.1:9000 is not allowed by --backend-allow"));
}

TEST_CASE("a Unix socket nobody listens on is a failed backend: counted, and the call goes on", "[media][unix]") {
  const auto folder = socket_folder("gone");
  BackendServer tcp_backend;
  auto serve = test::start_serve({"--backend-allow", "unix:" + folder, "--backend-allow", "127.0.0.1:*"});
  const json hosts{"unix:" + folder + "/nobody.sock", tcp_backend.host_port()};
  TwilioCall call(serve.port, {{"backendHosts", hosts.dump()}});
  call.start();
  for (std::size_t i = 0; i < 5; ++i) call.media(i);
  const bool all = tcp_backend.wait_for_messages(1 + 5);  // the start, the frames
  INFO(serve.process->err() << "\nreceived " << tcp_backend.messages().size());
  REQUIRE(all);
  CHECK(test::eventually([&] { return metric(serve.port, "callproxy_backend_connect_failures_total") == 1; }));
  CHECK(!serve.process->wait_for_stderr("cannot connect to " + folder + "/nobody.sock").empty());
  call.stop();
  CHECK(tcp_backend.wait_closed());
}

TEST_CASE("a Unix socket whose backlog stays full is tried until the connect timeout, then left out",
          "[media][unix][backend-faults]") {
  const auto folder = socket_folder("backlog");
  const auto path = folder + "/full.sock";
  // A listener that never accepts, its backlog (0: one waiting connection) taken by the test.
  const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(listener, 0) == 0);
  const int waiting = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(::connect(waiting, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);

  BackendServer tcp_backend;
  auto serve = test::start_serve(
      {"--backend-allow", "unix:" + folder, "--backend-allow", "127.0.0.1:*", "--backend-connect-timeout", "1s"});
  const json hosts{"unix:" + path, tcp_backend.host_port()};
  TwilioCall call(serve.port, {{"backendHosts", hosts.dump()}});
  call.start();
  call.media(0);
  REQUIRE(tcp_backend.wait_for_messages(2));
  CHECK(!serve.process->wait_for_stderr("cannot connect to " + path + ": its backlog stayed full").empty());
  CHECK(test::eventually([&] { return metric(serve.port, "callproxy_backend_connect_failures_total") == 1; }));
  call.stop();
  CHECK(tcp_backend.wait_closed());
  ::close(waiting);
  ::close(listener);
}

TEST_CASE("a bad unix: --backend stops serve at start, naming it", "[media][unix][bad-input]") {
  const auto result = test::run_command(
      test::callproxy_args({"serve", "--port", "0", "--backend", "unix:relative.sock"}));
  CHECK(result.exit_code != 0);
  CHECK_THAT(result.err, Catch::Contains("unix:relative.sock") && Catch::Contains("must be absolute"));
}

TEST_CASE("local-speaker listens on a Unix socket: serve's backend on it echoes the call back",
          "[media][unix][speaker]") {
  const auto folder = socket_folder("speaker");
  const auto path = folder + "/speaker.sock";
  {
    // A socket file left behind by an earlier run is replaced.
    BackendServer earlier(path);
  }
  const int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  REQUIRE(::bind(stale, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  ::close(stale);  // the file stays, nobody listens

  test::ChildProcess speaker(test::callproxy_args({"local-speaker", "--socket", path, "--output", "null", "--echo"}));
  REQUIRE(!speaker.wait_for_stderr("listening on unix:" + path + ":/media").empty());
  auto serve = test::start_serve({"--backend", "unix:" + path});
  TwilioCall call(serve.port, {});
  call.start();
  std::vector<std::string> payloads;
  for (std::size_t i = 0; i < 20; ++i) {
    const std::vector<std::uint8_t> frame(160, static_cast<std::uint8_t>(0x10 + i));
    payloads.push_back(twilio::base64_encode(frame));
    call.ws.send_text(call.writer.media(frame));
  }
  // Each frame comes back as the caller's own audio, in order.
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    const auto reply = call.ws.receive();
    INFO(serve.process->err() << "\n" << speaker.err());
    REQUIRE(reply);
    CHECK(json::parse(*reply).at("media").at("payload") == payloads[i]);
  }
  call.stop();
  speaker.signal(SIGTERM);
  CHECK(speaker.wait(15s) == 0);
  struct stat gone {};
  CHECK(::lstat(path.c_str(), &gone) != 0);  // removed when the speaker stops
}

TEST_CASE("local-speaker refuses a --socket path that holds another kind of file", "[unix][speaker][bad-input]") {
  const auto folder = socket_folder("not-a-socket");
  const auto path = folder + "/plain-file";
  { std::ofstream(path) << "keep me"; }
  const auto result = test::run_command(test::callproxy_args({"local-speaker", "--socket", path, "--output", "null"}));
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.err, Catch::Contains(path) && Catch::Contains("no socket"));
  std::ifstream kept(path);
  std::string text;
  std::getline(kept, text);
  CHECK(text == "keep me");
}
