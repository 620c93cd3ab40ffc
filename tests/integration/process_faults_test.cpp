// The process under load, against the real binary on loopback: SIGTERM with hundreds of live
// calls drains them without losing a frame, and SIGHUP reloads the pins file atomically while
// PIN checks keep coming, whatever state the file is caught in.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "support/child_process.h"
#include "support/http_client.h"
#include "support/media_call.h"
#include "support/wait.h"
#include "test_data.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;
using test::count_of;
using test::eventually;
using test::metric;

// 500 calls, as the issue asks (150 under AddressSanitizer): each sends 400 frames (8 s of audio) from callproxy-bench,
// whose sink is every call's backend and counts every frame by sequence number.
TEST_CASE("SIGTERM with 500 live calls drains them all within --drain-timeout, no frame lost, exit 0",
          "[process-faults][drain]") {
#if defined(__SANITIZE_ADDRESS__)
  // Under AddressSanitizer serve is several times slower: on the 2 shared cores here 500 paced calls never
  // were all live at once within a minute; 150 took 24 s, 250 took 36 s (load average 7).
  constexpr int calls = 150;
#else
  constexpr int calls = 500;
#endif
  auto serve = test::start_serve({"--drain-timeout", "30"});
  test::ChildProcess driver({CALLPROXY_BENCH_BIN,
                             "drive",
                             "--pid",
                             std::to_string(serve.process->pid()),
                             "--url",
                             "ws://127.0.0.1:" + std::to_string(serve.port) + "/media",
                             "--calls",
                             std::to_string(calls),
                             "--frames",
                             "400",
                             "--ramp",
                             "0.5",
                             "--warmup",
                             "0.5",
                             "--window",
                             "1",
                             "--tail",
                             "0",
                             "--settle",
                             "0",
                             "--drain",
                             "20",
                             "--check"});
  // A loaded serve may answer /metrics late: a poll that times out is a "not yet".
  const auto live = [&] {
    try {
      return metric(serve.port, "callproxy_active_calls");
    } catch (const std::exception&) {
      return -1.0;
    }
  };
  REQUIRE(eventually([&] { return live() == calls; }, 60s));
  const auto signalled = std::chrono::steady_clock::now();
  serve.process->signal(SIGTERM);
  CHECK(eventually([&] {
    try {
      return test::http_request(serve.port, "GET", "/readyz").status == 503;
    } catch (const std::exception&) {
      return false;  // not answered in time: ask again
    }
  }));
  // serve exits once its last call has ended, well within the drain timeout.
  CHECK(serve.process->wait(40s) == 0);
  const auto drained = std::chrono::steady_clock::now() - signalled;
  CHECK(drained < 30s);
  INFO("driver stderr: " << driver.err());
  REQUIRE(driver.wait(60s) == 0);  // --check: every call streamed, nothing lost, duplicated or reordered
  const auto report = json::parse(driver.out());
  CHECK(report.at("calls_failed") == 0);
  CHECK(report.at("frames_sent") == calls * 400);
  CHECK(report.at("frames_received") == calls * 400);
  CHECK(report.at("lost") == 0);
  CHECK(report.at("stops_received") == calls);
}

// While PIN checks run in a loop, the file is replaced (temp + rename) and rewritten in place
// (truncated, then written in two halves), with a SIGHUP at each step: every answer is the old
// table's or the new one's, never an error and never an empty table; a half-written file is
// refused with a logged error and the old table kept.
TEST_CASE("SIGHUP reloads the pins file atomically under load, a half-written file keeps the old table",
          "[process-faults][pins]") {
  const std::string old_pins = R"([{"pin":"1111","backendHosts":["old.example:1"]}])";
  const std::string new_pins = R"([{"pin":"1111","backendHosts":["new.example:2"]}])";
  const auto path = test::temp_path("pins.json");
  std::ofstream(path) << old_pins;
  auto serve = test::start_serve({"--pins-file", path});

  std::atomic<bool> done{false};
  std::atomic<int> answers{0}, old_answers{0}, new_answers{0};
  std::vector<std::string> wrong;  // written by the checker threads under `wrong_mutex`
  std::mutex wrong_mutex;
  std::vector<std::thread> checkers;
  for (int t = 0; t < 2; ++t) {
    checkers.emplace_back([&] {
      while (!done) {
        const auto r = test::http_request(serve.port, "POST", "/validate-pin", {{"Content-Type", "application/json"}},
                                          R"({"pin":"1111","callerId":"+15550001"})");
        ++answers;
        try {
          const auto body = json::parse(r.body);
          const auto hosts = body.at("authenticated") == true ? body.at("backendHosts").get<std::string>() : "";
          if (r.status == 200 && hosts == R"(["old.example:1"])") {
            ++old_answers;
            continue;
          }
          if (r.status == 200 && hosts == R"(["new.example:2"])") {
            ++new_answers;
            continue;
          }
        } catch (const std::exception&) {
        }
        std::lock_guard lock(wrong_mutex);
        wrong.push_back(std::to_string(r.status) + " " + r.body);
      }
    });
  }

  std::size_t reloads = 0;
  const auto sighup = [&](const char* outcome) {
    serve.process->signal(SIGHUP);
    ++reloads;
    // Each SIGHUP logs one line (reloaded, or why not): the reload has happened once it is there.
    REQUIRE(eventually([&] { return count_of(serve.process->err(), "SIGHUP: ") == reloads; }));
    const auto log = serve.process->err();
    const auto last = log.rfind("SIGHUP: ");
    CHECK_THAT(log.substr(last, log.find('\n', last) - last), Catch::Contains(outcome));
  };
  for (int round = 0; round < 10; ++round) {
    const auto& next = round % 2 == 0 ? new_pins : old_pins;
    // Atomic replacement.
    std::ofstream(path + ".tmp") << next;
    REQUIRE(std::rename((path + ".tmp").c_str(), path.c_str()) == 0);
    sighup("PIN entries reloaded");
    // In place: truncated (an empty file), then half written, then whole.
    const auto& other = round % 2 == 0 ? old_pins : new_pins;
    { std::ofstream truncate(path, std::ios::trunc); }
    sighup("keeping the 1 entries in use");
    std::ofstream(path, std::ios::trunc) << other.substr(0, other.size() / 2);
    sighup("keeping the 1 entries in use");
    std::ofstream(path, std::ios::trunc) << other;
    sighup("PIN entries reloaded");
    const int before = answers;
    REQUIRE(eventually([&] { return answers > before + 5; }));  // checks ran meanwhile
  }
  done = true;
  for (auto& t : checkers) t.join();
  INFO("answers: " << answers << " (old " << old_answers << ", new " << new_answers << ")");
  CHECK(wrong.empty());
  if (!wrong.empty()) FAIL("first wrong answer: " << wrong.front());
  CHECK(old_answers > 0);
  CHECK(new_answers > 0);
  std::remove(path.c_str());
}
