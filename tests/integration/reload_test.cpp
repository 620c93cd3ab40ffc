// SIGHUP re-reads serve's settings (the command line it was started with, the environment and the
// config file) and applies those that can change live: the log level, the backend allowlist and
// the default backends and --start-timeout for new calls, the TLS certificate for new connections.
// Each is observed on the real binary after the file is rewritten; an invalid file keeps them all.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "support/child_process.h"
#include "support/media_call.h"
#include "support/wait.h"
#include "support/ws_peer.h"
#include "test_data.h"

using namespace callproxy;
using namespace std::chrono_literals;
using test::BackendServer;
using test::TwilioCall;

namespace {

// What the environment could set in place of the file's keys: unset, so the file speaks.
const test::EnvChanges no_variables{{"LOG_LEVEL", std::nullopt},
                                    {"CALLPROXY_BACKEND", std::nullopt},
                                    {"CALLPROXY_BACKEND_ALLOW", std::nullopt},
                                    {"CALLPROXY_START_TIMEOUT", std::nullopt},
                                    {"CALLPROXY_DRAIN_TIMEOUT", std::nullopt}};

void write(const std::string& path, const std::string& text) {
  // Written beside it and renamed over it, as an editor or a configuration tool does.
  const auto next = path + ".next";
  std::ofstream(next) << text;
  std::filesystem::rename(next, path);
}

std::string hosts(const BackendServer& backend) { return nlohmann::json::array({backend.host_port()}).dump(); }

// A call naming `backends` (none: the defaults), started; whether serve closed it (refused) or kept it.
bool refused(unsigned short port, const std::string& backends) {
  std::map<std::string, std::string> params;
  if (!backends.empty()) params["backendHosts"] = backends;
  TwilioCall call(port, params);
  call.start();
  call.media(0);
  if (!call.ws.wait_closed(3s)) return false;
  return call.ws.close_code() == 1008;
}

// The SHA-256 fingerprint of the certificate serve presents on `port`, or of a PEM file.
std::string served_fingerprint(unsigned short port) {
  return test::run_command({"/bin/sh", "-c",
                            "openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                                " -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -fingerprint "
                                "-sha256"})
      .out;
}
std::string file_fingerprint(const std::string& pem) {
  return test::run_command({"/usr/bin/openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", pem}).out;
}

}  // namespace

TEST_CASE("SIGHUP applies a rewritten config file: log level, backend allowlist, default backends, start timeout",
          "[reload]") {
  BackendServer first, second;
  const auto file = test::temp_path("callproxy.toml");
  write(file, "log-level = \"info\"\n"
              "backend-allow = [\"" +
                  first.host_port() +
                  "\"]\n"
                  "backend = [\"" +
                  first.host_port() +
                  "\"]\n"
                  "start-timeout = 30\n");
  auto serve = test::start_serve({"--config", file}, no_variables);
  auto& process = *serve.process;

  // As started: the first backend is allowed (and the default), the second refused.
  CHECK(refused(serve.port, hosts(second)));
  CHECK(second.connections() == 0);
  // A call that is live across the reload, to the first backend.
  TwilioCall live(serve.port, {{"backendHosts", hosts(first)}});
  live.start();
  live.media(0);
  REQUIRE(first.wait_for_messages(2, 0, 10s));

  write(file, "log-level = \"debug\"\n"
              "backend-allow = [\"" +
                  second.host_port() +
                  "\"]\n"
                  "backend = [\"" +
                  second.host_port() +
                  "\"]\n"
                  "start-timeout = 1\n"
                  "drain-timeout = 45\n");
  process.signal(SIGHUP);
  // One line per setting that changed (each waited for: the log is read as it comes).
  for (const auto* line :
       {"SIGHUP: backend-allow changed: applies to new calls", "SIGHUP: backend changed: applies to new calls",
        "SIGHUP: start-timeout changed: applies to new calls", "SIGHUP: log-level changed to debug",
        "SIGHUP: drain-timeout changed: needs a restart"}) {
    CHECK_NOTHROW(process.wait_for_stderr(line, 10s));
  }

  // The live call keeps the settings it started with: its backend, no longer allowed, still gets
  // its audio.
  const auto heard = first.messages(0).size();
  live.media(1);
  CHECK(first.wait_for_messages(heard + 1, 0, 10s));

  // The allowlist: the second backend is now allowed, the first refused.
  {
    TwilioCall call(serve.port, {{"backendHosts", hosts(second)}});
    call.start();
    CHECK(second.wait_for_messages(1, 0, 10s));
  }
  const auto first_connections = first.connections();
  CHECK(refused(serve.port, hosts(first)));
  CHECK(first.connections() == first_connections);
  // The default backends: a call naming none goes to the second.
  {
    const auto before = second.connections();
    TwilioCall call(serve.port, {});
    call.start();
    CHECK(second.wait_for_connections(before + 1, 10s));
  }
  // The start timeout: a stream that never starts is closed after 1 s, not 30.
  {
    test::WsClient silent(serve.port, "/media");
    const auto opened = std::chrono::steady_clock::now();
    REQUIRE(silent.wait_closed(10s));
    CHECK(silent.close_code() == 1008);
    CHECK(std::chrono::steady_clock::now() - opened < 8s);
  }
  // The log level: a debug line is written now.
  {
    TwilioCall call(serve.port, {{"backendHosts", hosts(second)}});
    call.start();
    call.ws.send_text(R"({"event":"someday","sequenceNumber":"9","streamSid":")" + call.writer.identity().stream_sid +
                      "\"}");
    process.wait_for_stderr("event 'someday' not handled", 10s);
  }
}

TEST_CASE("SIGHUP with an invalid config file keeps every setting and says why", "[reload]") {
  BackendServer first, second;
  const auto file = test::temp_path("callproxy.toml");
  write(file, "backend-allow = [\"" + first.host_port() + "\"]\n");
  auto serve = test::start_serve({"--config", file}, no_variables);
  auto& process = *serve.process;

  // Invalid TOML (an unquoted value) beside a change that would be valid: neither is applied.
  write(file, "backend-allow = [\"" + second.host_port() + "\"]\nlog-level = debug\n");
  process.signal(SIGHUP);
  const auto line = process.wait_for_stderr("SIGHUP: settings not reloaded, all kept as they are", 10s);
  CHECK(line.find(file + ": line 2, column 13: invalid TOML") != std::string::npos);
  CHECK(refused(serve.port, hosts(second)));
  {
    TwilioCall call(serve.port, {{"backendHosts", hosts(first)}});
    call.start();
    CHECK(first.wait_for_messages(1, 0, 10s));
  }
  // A valid file but a bad value: the same.
  write(file, "backend-allow = [\"" + second.host_port() + "\"]\nmax-body-bytes = 0\n");
  process.signal(SIGHUP);
  CHECK(test::eventually(
      [&] { return test::count_of(process.err(), "SIGHUP: settings not reloaded, all kept as they are") == 2; }));
  CHECK(process.err().find("key 'max-body-bytes'") != std::string::npos);
  CHECK(refused(serve.port, hosts(second)));
}

TEST_CASE("SIGHUP checks the live settings against those that need a restart before applying any", "[reload]") {
  BackendServer first;
  const auto file = test::temp_path("callproxy.toml");
  write(file, "backend = [\"" + first.host_port() + "\"]\n");
  auto serve = test::start_serve({"--config", file}, no_variables);
  auto& process = *serve.process;
  // A recorder among the defaults, with the --record-dir it needs in the same file: record-dir
  // needs a restart, so the running serve has none, and the new backends would fail every call.
  write(file, "backend = [\"record:\", \"" + first.host_port() + "\"]\nrecord-dir = \"" +
                  test::temp_path("recordings") + "\"\n");
  process.signal(SIGHUP);
  const auto line = process.wait_for_stderr("SIGHUP: settings not reloaded, all kept as they are", 10s);
  CHECK(line.find("a recording needs --record-dir") != std::string::npos);
  // The old default still serves calls.
  TwilioCall call(serve.port, {});
  call.start();
  CHECK(first.wait_for_messages(1, 0, 10s));
}

TEST_CASE("SIGHUP serves a renewed TLS certificate to new connections", "[reload]") {
  const auto old_cert = test::make_test_certificate("old");
  const auto new_cert = test::make_test_certificate("new");
  const auto dir = test::temp_path("tls");
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(old_cert + "/cert.pem", dir + "/cert.pem");
  std::filesystem::copy_file(old_cert + "/key.pem", dir + "/key.pem");
  auto serve = test::start_serve({"--tls-cert", dir + "/cert.pem", "--tls-key", dir + "/key.pem"}, no_variables);
  const auto old_print = file_fingerprint(old_cert + "/cert.pem");
  const auto new_print = file_fingerprint(new_cert + "/cert.pem");
  REQUIRE(!old_print.empty());
  REQUIRE(old_print != new_print);
  CHECK(served_fingerprint(serve.port) == old_print);
  // A reload with the files as they were (for the pins file, say) keeps the context as it is.
  serve.process->signal(SIGHUP);

  // A call streaming over wss:// across the renewal (client-test trusts the old certificate alone).
  BackendServer backend;
  test::ChildProcess call(test::callproxy_args(
      {"client-test", "--url", "wss://localhost:" + std::to_string(serve.port) + "/media", "--ca-file",
       old_cert + "/cert.pem", "--once", "--duration", "12", "--backend-hosts", hosts(backend)}));
  REQUIRE(backend.wait_for_messages(2, 0, 10s));

  // Renewed in place (the key first, then the certificate), as certbot's deploy hook does.
  write(dir + "/key.pem", test::read_file(new_cert + "/key.pem"));
  write(dir + "/cert.pem", test::read_file(new_cert + "/cert.pem"));
  serve.process->signal(SIGHUP);
  serve.process->wait_for_stderr("SIGHUP: TLS certificate reloaded from " + dir + "/cert.pem", 10s);
  const auto streamed = backend.messages(0).size();
  CHECK(test::eventually([&] { return served_fingerprint(serve.port) == new_print; }, 10s, 100ms));
  // The open connection kept its certificate and streamed to its end, after the reload too (a
  // 12 s call: long enough to be streaming still here under ASan on a busy machine).
  CHECK(call.wait(40s) == 0);
  CHECK(backend.messages(0).size() > streamed);

  // A key that does not go with the certificate: the one in use stays.
  write(dir + "/key.pem", test::read_file(old_cert + "/key.pem"));
  serve.process->signal(SIGHUP);
  const auto kept = serve.process->wait_for_stderr("SIGHUP: settings not reloaded", 10s);
  CHECK(kept.find("--tls-key") != std::string::npos);
  CHECK(served_fingerprint(serve.port) == new_print);
  // Three reloads, one certificate loaded: the unchanged files were not loaded again.
  CHECK(test::count_of(serve.process->err(), "SIGHUP: TLS certificate reloaded") == 1);
}
