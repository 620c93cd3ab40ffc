// Error paths nobody can reach from outside: a test-only hook (core/fault_injection.h) makes a
// chosen point throw, and the cleanup that must follow is checked.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <future>
#include <stdexcept>

#include "core/fault_injection.h"
#include "speaker/local_speaker.h"
#include "support/child_process.h"
#include "support/http_client.h"
#include "support/in_process_serve.h"
#include "support/wait.h"
#include "support/ws_peer.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;
using test::eventually;

namespace {

// Sets the hook to throw at `point` for as long as it lives.
template <testing::FaultPoint point>
struct ThrowAt {
  ThrowAt() {
    testing::fault_hook = [](testing::FaultPoint at) {
      if (at == point) throw std::runtime_error("injected fault");
    };
  }
  ~ThrowAt() { testing::fault_hook = nullptr; }
  ThrowAt(const ThrowAt&) = delete;
  ThrowAt& operator=(const ThrowAt&) = delete;
};

double active_calls(unsigned short port) {
  const auto text = test::http_request(port, "GET", "/metrics").body;
  const std::string series = "\ncallproxy_active_calls ";
  const auto at = text.find(series);
  if (at == std::string::npos) throw std::runtime_error("no callproxy_active_calls in /metrics");
  return std::stod(text.substr(at + series.size()));
}

}  // namespace

TEST_CASE("a call whose handler throws leaves the registry and the gauge, clears its mark and stops its backends",
          "[media][faults]") {
  test::BackendServer backend;
  proxy::ServeOptions options;
  options.threads = 1;
  options.store = "memory";
  test::InProcessServe serve(std::move(options));
  const ThrowAt<testing::FaultPoint::call_started> fault;

  test::WsClient call(serve.port());
  call.send_text(json{
      {"event", "start"},
      {"sequenceNumber", "1"},
      {"start",
       {{"streamSid", "MZX"},
        {"callSid", "CAX"},
        {"tracks", {"inbound"}},
        {"customParameters", {{"executionId", "FNX"}, {"backendHosts", json::array({backend.host_port()}).dump()}}}}}}
                     .dump());
  // The call's start handler threw once it had started its backend and claimed its mark: the
  // backend hears the start and then the stop, the Twilio side is closed, nothing stays counted.
  REQUIRE(backend.wait_for_messages(2, 0, 3s));
  CHECK(json::parse(backend.messages().front()).at("event") == "start");
  CHECK(json::parse(backend.messages().back()) == json{{"event", "stop"}});
  CHECK(call.wait_closed(3s));
  CHECK(eventually([&] { return active_calls(serve.port()) == 0; }, 2s));
  CHECK(eventually([&] { return test::http_request(serve.port(), "GET", "/executions/FNX/connected").status == 410; },
                   2s));
}

TEST_CASE("local-speaker stops its player and reports the error when a stream's handler throws", "[speaker][faults]") {
  speaker::LocalSpeakerOptions options;
  options.bind = "127.0.0.1";
  options.port = test::free_port();
  options.output = speaker::LocalSpeakerOptions::Output::null;
  const ThrowAt<testing::FaultPoint::speaker_message> fault;
  auto outcome = std::async(std::launch::async, [&options]() -> std::string {
    try {
      return "returned " + std::to_string(speaker::run_local_speaker(options));
    } catch (const std::exception& e) {
      return std::string("threw: ") + e.what();
    }
  });
  std::unique_ptr<test::WsClient> stream;
  REQUIRE(eventually([&] {
    try {
      stream = std::make_unique<test::WsClient>(options.port, "/media");
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }));
  stream->send_text(R"({"event":"start","streamSid":"MZ1"})");
  // Before, the exception left run_local_speaker with the player's thread still joinable, and
  // its std::thread ended the process.
  REQUIRE(outcome.wait_for(10s) == std::future_status::ready);
  CHECK(outcome.get() == "threw: injected fault");
}
