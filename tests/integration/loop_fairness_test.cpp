// No peer can starve the others (issue 21). Floods of tiny WebSocket frames, from Twilio's side
// or from a backend, on the one event loop a good call shares with them (--threads 1): the good
// call keeps its frame rate, /healthz answers, the loop's timers fire on time. With the default
// limits the flooders are closed (1008 for pings, 1009 for fragments); with both limits raised
// out of reach the per-turn read budget alone must hold. Outcomes with margins only: the exact
// figures are bench/'s (the fairness row in bench/README.md).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.h"
#include "support/http_client.h"
#include "support/media_call.h"
#include "support/raw_backend.h"
#include "support/wait.h"
#include "support/ws_flood.h"
#include "support/ws_peer.h"

using namespace callproxy;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Flags that take both limits out of reach, so only the read budget keeps the loop fair.
const std::vector<std::string> limits_out_of_reach{"--max-control-frames", "1000000", "--max-message-fragments",
                                                   "1000000000"};

struct Fairness {
  double frames_per_second = 0;  // the good call's frames that reached its backend
  Clock::duration worst_healthz{};
  bool idle_stream_closed = false;  // a stream without start was closed at --start-timeout (1008)
};

// While a flood runs: a good call at Twilio's pace for `duration`, /healthz every 50 ms, and a
// stream that never starts (serve runs with --start-timeout 1).
Fairness measure(unsigned short port, test::TwilioCall& call, const test::BackendServer& backend,
                 Clock::duration duration = 3s) {
  Fairness result;
  std::atomic<bool> done{false};
  std::thread prober([&] {
    while (!done) {
      const auto asked = Clock::now();
      bool answered = false;
      try {
        answered = test::http_request(port, "GET", "/healthz").status == 200;
      } catch (const std::exception&) {  // no answer within the client's 10 s
      }
      const auto took = Clock::now() - asked;
      result.worst_healthz = std::max(result.worst_healthz, answered ? took : Clock::duration(1h));
      std::this_thread::sleep_until(asked + 50ms);  // the probe's pace
    }
  });
  test::WsClient idle(port);
  const auto idle_opened = Clock::now();
  const auto before = backend.messages().size();
  const auto start = Clock::now();
  auto next = start;
  for (std::size_t i = 0; next < start + duration; ++i) {
    call.media(i);
    next += 20ms;  // Twilio's pace
    std::this_thread::sleep_until(next);
  }
  const auto received = backend.messages().size() - before;
  result.frames_per_second = static_cast<double>(received) / std::chrono::duration<double>(duration).count();
  result.idle_stream_closed = idle.wait_closed(std::chrono::duration_cast<std::chrono::milliseconds>(idle_opened + 3s -
                                                                                                     Clock::now())) &&
                              idle.close_code() == 1008;
  done = true;
  prober.join();
  return result;
}

void check(const Fairness& fairness) {
  INFO("good call " << fairness.frames_per_second << " frames/s, worst /healthz "
                    << std::chrono::duration_cast<std::chrono::milliseconds>(fairness.worst_healthz).count() << " ms");
  CHECK(fairness.frames_per_second >= 45);
  CHECK(fairness.worst_healthz < 100ms);
  CHECK(fairness.idle_stream_closed);
}

// A good call's start, on serve at `port`, sent to `backend`, heard there.
std::unique_ptr<test::TwilioCall> good_call(unsigned short port, const test::BackendServer& backend) {
  auto call = std::make_unique<test::TwilioCall>(
      port, std::map<std::string, std::string>{{"backendHosts", "[\"" + backend.host_port() + "\"]"}});
  call->start();
  REQUIRE(backend.wait_for_messages(1));
  return call;
}

std::vector<std::string> serve_args(std::vector<std::string> extra) {
  std::vector<std::string> args{"--threads", "1", "--start-timeout", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace

TEST_CASE("streams flooding empty fragments or pings leave a good call on their loop its frames and /healthz its "
          "answers",
          "[media][fairness][bad-input][slow]") {
  struct Case {
    const char* what;
    test::FloodKind kind;
    bool limits;
    int close_code;  // what the flooders are closed with (under the limits)
  };
  const auto c = GENERATE(Case{"empty fragments", test::FloodKind::fragments, true, 1009},
                          Case{"pings", test::FloodKind::pings, true, 1008},
                          Case{"empty fragments, limits out of reach", test::FloodKind::fragments, false, 0},
                          Case{"pings, limits out of reach", test::FloodKind::pings, false, 0});
  INFO(c.what);
  test::BackendServer backend;
  auto serve = test::start_serve(serve_args(c.limits ? std::vector<std::string>{} : limits_out_of_reach));
  auto call = good_call(serve.port, backend);
  test::MediaFlooders flooders(serve.port, c.kind, 2);
  REQUIRE(test::eventually([&] { return flooders.connections() >= 2; }));
  check(measure(serve.port, *call, backend));
  // Under the limits the flooders are closed for them (and come back: the flood went on all
  // along); out of reach, none is, and the budget alone kept the loop fair. (Every flooder is also
  // closed at --start-timeout, 1008, having never sent a start.)
  const auto flood_closes = test::metric(serve.port, "callproxy_flood_closes_total{source=\"twilio\"}");
  if (c.limits) {
    CHECK(flooders.closes().count(c.close_code) == 1);
    CHECK(flood_closes >= 1);
  } else {
    CHECK(flood_closes == 0);
  }
}

TEST_CASE("a backend flooding empty fragments or pings leaves a good call on its loop its frames",
          "[media][fairness]"
          "[bad-input][slow]") {
  const auto behaviour = GENERATE(test::RawBackend::Behaviour::fragment_flood, test::RawBackend::Behaviour::ping_flood);
  const bool limits = GENERATE(true, false);
  const int expected = behaviour == test::RawBackend::Behaviour::fragment_flood ? 1009 : 1008;
  INFO((behaviour == test::RawBackend::Behaviour::fragment_flood ? "fragments" : "pings")
       << (limits ? "" : ", limits out of reach"));
  test::BackendServer backend;
  test::RawBackend hostile({behaviour});
  auto serve = test::start_serve(serve_args(limits ? std::vector<std::string>{} : limits_out_of_reach));
  auto call = good_call(serve.port, backend);
  // A second call on the same loop, whose (only) backend floods it.
  test::TwilioCall victim(serve.port, {{"backendHosts", "[\"" + hostile.host_port() + "\"]"}});
  victim.start();
  REQUIRE(hostile.wait_for_connections(1));
  check(measure(serve.port, *call, backend));
  const auto flood_closes = test::metric(serve.port, "callproxy_flood_closes_total{source=\"backend\"}");
  if (limits) {
    CHECK(hostile.close_code(0) == expected);
    CHECK(flood_closes >= 1);
  } else {
    CHECK(flood_closes == 0);
  }
}
