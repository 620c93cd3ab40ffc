// The TwiML flow's parts without sockets: the URLs it writes, and its routes in this process over
// the memory store (tokens minted at a time the test chooses). Through the real binary: twiml_test.cpp.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/xml_reader.h"
#include "proxy/callers/twiml_routes.h"
#include "support/test_secrets.h"
#include "support/twilio_webhook.h"
#include "twilio/percent_encoding.h"
#include "twilio/signature.h"
#include "twilio/stream_token.h"

using namespace callproxy;
using namespace std::chrono_literals;

namespace {

using test::form_body;
using test::webhook;

// The <Parameter>s of a <Stream> as a map.
std::map<std::string, std::string> parameters_of(const callproxy::XmlElement& stream) {
  std::map<std::string, std::string> out;
  for (const auto* p : stream.children_named("Parameter")) out[p->at("name")] = p->at("value");
  return out;
}

std::string call_sid_for(int n) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "CA%032d", n);
  return buffer;
}

}  // namespace

TEST_CASE("TwiML URLs come from --public-url with the scheme each use needs", "[twiml]") {
  CHECK(proxy::twiml_stream_url("", "calls.example.com") == "wss://calls.example.com/media");
  CHECK(proxy::twiml_stream_url("https://calls.example.com/", "ignored") == "wss://calls.example.com/media");
  CHECK(proxy::twiml_stream_url("wss://calls.example.com/proxy", "x") == "wss://calls.example.com/proxy/media");
  CHECK(proxy::twiml_stream_url("http://127.0.0.1:8999", "x") == "ws://127.0.0.1:8999/media");
  CHECK(proxy::twiml_pin_action("", 0) == "/twiml/pin");
  CHECK(proxy::twiml_pin_action("", 2) == "/twiml/pin?tries=2");
  CHECK(proxy::twiml_pin_action("wss://calls.example.com/proxy/", 1) ==
        "https://calls.example.com/proxy/twiml/pin?tries=1");
}

// The TwiML flow's routes in this process, over the memory store, at a time the test chooses:
// what proxy/server.cpp wires, without sockets.
TEST_CASE("a token the TwiML flow mints with a 30 s TTL is valid at +29 s and expired at +31 s",
          "[twiml][stream-token]") {
  proxy::CallersOptions options;
  options.pins_file = test::secrets::pins_file();
  options.twiml.pin_digits = 8;
  proxy::MediaOptions media;
  media.stream_token_secret = test::secrets::stream_token_secret;
  media.stream_token_ttl = 30s;  // --stream-token-ttl 30
  const proxy::SignatureOptions signatures{false, "", "https://calls.example.com"};
  const auto store = proxy::make_memory_store();
  proxy::PinDirectory pins(options.pins_file);
  proxy::RequestSigning signing(signatures);
  proxy::PinFailureBudgets budgets(options.pin_budget);
  proxy::ServerMetrics metrics;
  proxy::CallerApi callers{options, *store, pins, signing, budgets, metrics.shared()};
  proxy::TwimlApi api{callers, options.twiml, media, signatures};
  // Minted half a second past a whole second: the expiry is in whole seconds, the half dropped.
  const std::int64_t minted_at = 1'767'225'600;  // 2026-01-01T00:00:00Z
  api.now = [&] { return std::chrono::system_clock::time_point(std::chrono::milliseconds(minted_at * 1000 + 500)); };
  proxy::Router router;
  proxy::add_twiml_routes(router, api);

  proxy::HttpRequest request;
  request.method = "POST";
  request.target = "/twiml/pin";
  request.headers = {{"Host", "calls.example.com"}, {"Content-Type", "application/x-www-form-urlencoded"}};
  const auto sid = call_sid_for(30);
  request.body = form_body(webhook("+15551110030", sid, test::secrets::pin));
  request.remote_address = "127.0.0.1";
  // The answer may come on another thread (the PIN check's), so it is waited for, with a deadline.
  auto answered = std::make_shared<std::promise<proxy::HttpResponse>>();
  router.dispatch(request, [answered](proxy::HttpResponse response) { answered->set_value(std::move(response)); });
  auto future = answered->get_future();
  REQUIRE(future.wait_for(10s) == std::future_status::ready);
  const auto answer = future.get();
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  const auto root = callproxy::parse_xml(answer.body);
  const auto params = parameters_of(root.child("Connect").child("Stream"));
  const auto& token = params.at("streamToken");
  test::secrets::remember(token);
  const auto& hosts = params.at("backendHosts");

  using V = twilio::StreamTokenVerdict;
  const auto at = [&](std::int64_t unix_seconds) {
    return twilio::check_stream_token(test::secrets::stream_token_secret, token, sid, hosts, unix_seconds);
  };
  CHECK(twilio::stream_token_expiry(token) == minted_at + 30);
  CHECK(at(minted_at) == V::valid);
  CHECK(at(minted_at + 29) == V::valid);
  CHECK(at(minted_at + 31) == V::expired);
}
