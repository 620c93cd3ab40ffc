// serve as a process: health routes, HTTP error handling, signals, start-up errors.
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/http_client.h"
#include "test_data.h"

using namespace callproxy;

TEST_CASE("serve answers the Node service's health check and the probes", "[serve]") {
  auto serve = test::start_serve();
  const auto root = test::http_request(serve.port, "GET", "/");
  CHECK(root.status == 200);
  CHECK(root.body == "OK");
  const auto alive = test::http_request(serve.port, "GET", "/healthz");
  CHECK(alive.status == 200);
  CHECK(alive.body == R"({"status":"alive"})");
  const auto ready = test::http_request(serve.port, "GET", "/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.headers.at("content-type").find("application/json") == 0);
}

// The audio stack (PortAudio with ALSA, JACK and the codecs libsndfile links) is opened at run
// time by the subcommands that play or read audio: serve's resident memory must not carry it.
TEST_CASE("serve never maps the audio libraries", "[serve]") {
  auto serve = test::start_serve();
  REQUIRE(test::http_request(serve.port, "GET", "/healthz").status == 200);
  std::ifstream maps("/proc/" + std::to_string(serve.process->pid()) + "/maps");
  REQUIRE(maps);
  std::vector<std::string> audio;
  for (std::string line; std::getline(maps, line);) {
    for (const char* lib : {"libportaudio", "libasound", "libjack", "libsndfile", "libsamplerate", "libvorbis",
                            "libFLAC", "libmpg123", "libopus"}) {
      if (line.find(lib) != std::string::npos) audio.push_back(line);
    }
  }
  CHECK(audio.empty());
}

TEST_CASE("serve answers client mistakes with 4xx and a JSON message, and keeps serving", "[serve][slow]") {
  auto serve = test::start_serve({"--max-body-bytes", "1024"});
  const auto missing = test::http_request(serve.port, "GET", "/no/such/route");
  CHECK(missing.status == 404);
  CHECK(missing.body == R"({"message":"no route for /no/such/route"})");

  const auto wrong_method = test::http_request(serve.port, "DELETE", "/healthz");
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.headers.at("allow") == "GET, HEAD");

  const auto too_big = test::http_request(serve.port, "POST", "/", {}, std::string(4096, 'x'));
  CHECK(too_big.status == 413);
  CHECK(too_big.body.find("exceeds 1024 bytes") != std::string::npos);

  const auto garbage = test::parse_reply(test::raw_exchange(serve.port, "THIS IS NOT HTTP\r\n\r\n"));
  CHECK(garbage.status == 400);

  // Bytes that are not UTF-8 in the target are quoted back safely, not a crash.
  const auto binary = test::parse_reply(test::raw_exchange(serve.port, "GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(binary.status == 404);
  CHECK(test::http_request(serve.port, "GET", "/blocked-callers/%FF").status == 404);

  // Still alive and answering.
  CHECK(test::http_request(serve.port, "GET", "/").status == 200);
}

TEST_CASE("serve keeps a connection alive across requests", "[serve]") {
  auto serve = test::start_serve();
  const auto raw = test::raw_exchange(serve.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                                  "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const auto first = raw.find("HTTP/1.1 200");
  REQUIRE(first != std::string::npos);
  CHECK(raw.find("HTTP/1.1 200", first + 1) != std::string::npos);
}

TEST_CASE("serve exits 0 on SIGTERM and on SIGINT", "[serve]") {
  for (const int sig : {SIGTERM, SIGINT}) {
    auto serve = test::start_serve();
    serve.process->signal(sig);
    CHECK(serve.process->wait(std::chrono::seconds(10)) == 0);
    CHECK(serve.process->err().find("draining") != std::string::npos);
  }
}

TEST_CASE("serve reports a port it cannot take and exits 1", "[serve]") {
  auto first = test::start_serve();
  auto second = test::run_command(
      test::callproxy_args({"serve", "--bind", "127.0.0.1", "--port", std::to_string(first.port)}));
  CHECK(second.exit_code == 1);
  CHECK(second.err.find("cannot listen on 127.0.0.1:" + std::to_string(first.port)) != std::string::npos);

  const auto bad_bind = test::run_command(test::callproxy_args({"serve", "--bind", "not-an-ip", "--port", "0"}));
  CHECK(bad_bind.exit_code == 1);
  CHECK(bad_bind.err.find("--bind") != std::string::npos);
}

TEST_CASE("serve takes its port from AUDIO_PROXY_PORT as the Node service does", "[serve]") {
  // Port 0 through the environment: the log names the port actually bound.
  test::ChildProcess serve(test::callproxy_args({"serve", "--bind", "127.0.0.1"}), {{"AUDIO_PROXY_PORT", "0"}});
  const auto line = serve.wait_for_stderr("listening on 127.0.0.1:");
  CHECK(line.find("127.0.0.1:8999") == std::string::npos);
  // Without --store, the default sqlite:./callproxy.db: in serve's working directory, which is
  // the test's temp directory (removed with it), never the build tree the tests run from.
  CHECK(serve.err().find("state store: sqlite:./callproxy.db") != std::string::npos);
  CHECK(serve.working_dir().rfind(test::temp_root() + "/", 0) == 0);
  CHECK(std::filesystem::exists(serve.working_dir() + "/callproxy.db"));
}
