// The bench's instruments must not rot: callproxy-bench drives a handful of real-time calls
// through the floor relays and through serve (each started by the driver on a free loopback
// port), and must report every frame delivered in one well-formed JSON line. No speed is
// asserted here: bench/run measures, tests only check that it can.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "support/child_process.h"

using namespace callproxy;

namespace {

// Runs the driver (5 calls, ~1.5 s of frames) against `target`; returns its one JSON line.
nlohmann::json drive(std::vector<std::string> target, int backends = 1, const std::string& format = "simple") {
  std::vector<std::string> args{CALLPROXY_BENCH_BIN, "drive", "--calls", "5",    "--backends", std::to_string(backends),
                                "--format",          format,  "--ramp",  "0.02", "--warmup",   "0.3",
                                "--window",          "1",     "--tail",  "0.2",  "--settle",   "0",
                                "--check",           "--"};
  args.insert(args.end(), target.begin(), target.end());
  const auto result = test::run_command(args);
  INFO("stdout: " << result.out << "\nstderr: " << result.err);
  REQUIRE(result.exit_code == 0);
  REQUIRE(std::count(result.out.begin(), result.out.end(), '\n') == 1);
  const auto report = nlohmann::json::parse(result.out);
  const auto frames_per_call = report.at("frames_per_call").get<int>();
  CHECK(report.at("calls").get<int>() == 5);
  CHECK(report.at("calls_failed").get<int>() == 0);
  CHECK(report.at("frames_sent").get<int>() == 5 * frames_per_call);
  CHECK(report.at("frames_received").get<int>() == 5 * frames_per_call * backends);
  CHECK(report.at("lost").get<int>() == 0);
  CHECK(report.at("duplicated").get<int>() == 0);
  CHECK(report.at("out_of_order").get<int>() == 0);
  CHECK(report.at("damaged").get<int>() == 0);
  CHECK(report.at("window_frames_received").get<int>() > 0);
  CHECK(report.at("latency_us").at("n").get<int>() > 0);
  CHECK(report.at("target_us_per_frame").at("total").is_number());
  CHECK(report.at("target_rss_kib").get<long>() > 0);
  CHECK(report.at("driver_cpu_pct").is_number());
  return report;
}

}  // namespace

TEST_CASE("bench driver: every frame through the TCP floor relay", "[bench]") {
  drive({FLOOR_TCP_RELAY_BIN, "--upstream", "127.0.0.1:{sink}"}, 1, "twilio");
}

TEST_CASE("bench driver: every frame through the Beast floor relay", "[bench]") {
  drive({FLOOR_BEAST_RELAY_BIN, "--upstream", "127.0.0.1:{sink}"}, 1, "twilio");
}

TEST_CASE("bench driver: every frame through serve, both backend formats, two backends", "[bench]") {
  for (const std::string format : {"simple", "twilio"}) {
    const auto report = drive({CALLPROXY_BIN, "serve", "--bind", "127.0.0.1", "--port", "0", "--threads", "1",
                               "--store", "memory", "--backend-format", format, "--log-level", "info"},
                              2, format);
    CHECK(report.at("stops_received").get<int>() == 10);
    CHECK(report.at("target_startup_ms").get<double>() > 0);
  }
}
