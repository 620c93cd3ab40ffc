// Log lines limited per reason and interval (proxy/http/limited_log.h), as the store and the
// signature check write them.
#include <catch2/catch.hpp>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>

#include "proxy/http/limited_log.h"

using namespace callproxy;
using namespace std::chrono_literals;

TEST_CASE("limited log lines: the first per reason, then one per interval counting the rest, reasons bounded",
          "[callers][log]") {
  std::ostringstream log;
  const auto previous = spdlog::default_logger();
  auto capture = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  capture->set_pattern("%v");
  spdlog::set_default_logger(capture);
  const auto lines = [&] {
    auto text = log.str();
    log.str("");
    return text;
  };
  proxy::LimitedLog limit(proxy::LimitedLog::Level::error, "state store: ", 10s);
  const auto t0 = proxy::LimitedLog::Clock::time_point{} + 1h;

  limit.write("Redis is not reachable", t0);
  CHECK(lines() == "state store: Redis is not reachable\n");
  for (int i = 0; i < 5; ++i) limit.write("Redis is not reachable", t0 + 1s);
  limit.write("sqlite is busy", t0 + 2s);  // another reason has its own line
  CHECK(lines() == "state store: sqlite is busy\n");
  limit.write("Redis is not reachable", t0 + 9s);
  CHECK(lines().empty());
  limit.write("Redis is not reachable", t0 + 10s);
  CHECK(lines() == "state store: Redis is not reachable (6 more like it since the last line)\n");
  limit.write("Redis is not reachable", t0 + 21s);
  CHECK(lines() == "state store: Redis is not reachable\n");

  // Reasons past the bound share one slot (30 new ones fit beside the two above, the 31st is
  // written, the 11 after it are counted): a sender cannot grow the table with new texts.
  for (std::size_t i = 0; i < proxy::LimitedLog::max_reasons + 10; ++i)
    limit.write("why " + std::to_string(i), t0 + 30s);
  const auto written = lines();
  CHECK(std::count(written.begin(), written.end(), '\n') == static_cast<long>(proxy::LimitedLog::max_reasons - 2 + 1));
  limit.write("why 1000", t0 + 41s);
  CHECK(lines() == "state store: why 1000 (11 more like it since the last line)\n");
  // A line that is not its own reason: every refusal of one kind counts against one slot, whatever
  // path each request named.
  proxy::LimitedLog refusals(proxy::LimitedLog::Level::warn, {}, 10s);
  refusals.write("invalid signature", "POST /a: refused", t0);
  refusals.write("invalid signature", "POST /b: refused", t0 + 1s);
  refusals.write("invalid signature", "POST /c: refused", t0 + 11s);
  CHECK(lines() == "POST /a: refused\nPOST /c: refused (1 more like it since the last line)\n");
  spdlog::set_default_logger(previous);
}
