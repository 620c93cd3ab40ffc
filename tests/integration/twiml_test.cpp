// The built-in TwiML call flow through the real binary: its /twiml routes (answers parsed back as
// XML) and streams carrying tokens. The units: xml_writer_test, stream_token_test, twiml_routes_test.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>

#include "core/xml_reader.h"
#include "support/child_process.h"
#include "support/http_client.h"
#include "support/http_server.h"
#include "support/media_call.h"
#include "support/redis_server.h"
#include "support/test_secrets.h"
#include "support/twilio_webhook.h"
#include "support/twiml_flow.h"
#include "support/wait.h"
#include "support/ws_peer.h"
#include "test_data.h"
#include "testclient/twilio_stream_writer.h"
#include "twilio/base64.h"
#include "twilio/percent_encoding.h"
#include "twilio/signature.h"
#include "twilio/stream_token.h"

using namespace callproxy;
using namespace std::chrono_literals;
using callproxy::XmlElement;
using nlohmann::json;
using test::metric;

namespace {

const std::string demo_pins = std::string(CALLPROXY_ASSETS) + "/demo-pins.json";

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

using test::call_sid_for;
using test::Names;
using test::parameters_of;
using test::post_form;
using test::StreamCall;
using test::twiml_of;
using test::webhook;

// A goodbye: what the caller hears, then the hang-up.
void check_goodbye(const XmlElement& root, const std::vector<std::string>& said) {
  Names expected(said.size(), "Say");
  expected.push_back("Hangup");
  REQUIRE(root.child_names() == expected);
  for (std::size_t i = 0; i < said.size(); ++i) CHECK(root.children[i].text == said[i]);
}

// A gather for the PIN: optional text before it, the prompt inside, the inactivity goodbye after.
const XmlElement& check_gather(const XmlElement& root, const std::string& action, bool after_wrong_pin = false,
                               const std::string& goodbye = "Goodbye.") {
  const Names expected = after_wrong_pin ? Names{"Say", "Gather", "Say", "Hangup"} : Names{"Gather", "Say", "Hangup"};
  REQUIRE(root.child_names() == expected);
  const auto& gather = root.child("Gather");
  CHECK(gather.at("input") == "dtmf");
  CHECK(gather.at("finishOnKey") == "#");
  CHECK(gather.at("action") == action);
  CHECK(gather.at("method") == "POST");
  REQUIRE(gather.child_names() == Names{"Say"});
  CHECK(root.children.back().name == "Hangup");
  CHECK(root.children[root.children.size() - 2].text == goodbye);
  return gather;
}

}  // namespace

TEST_CASE("TwiML voice: withheld and blocked callers hear goodbye and are hung up on, others are asked for the PIN",
          "[twiml][api]") {
  auto serve = test::start_serve({"--pins-file", demo_pins, "--debug-routes", "--twiml-gather-timeout", "7"});
  for (const auto* withheld : {"anonymous", "+266696687", "RESTRICTED", ""}) {
    INFO(withheld);
    check_goodbye(twiml_of(post_form(serve.port, "/twiml/voice", webhook(withheld, call_sid_for(1)))), {"Goodbye."});
  }
  REQUIRE(test::http_request(serve.port, "POST", "/blocked-callers/+15557654321").status == 201);
  // Blocked under any spelling of the number, as /validate-pin has it.
  check_goodbye(twiml_of(post_form(serve.port, "/twiml/voice", webhook("+1 (555) 765-4321", call_sid_for(2)))),
                {"Goodbye."});

  const auto root = twiml_of(post_form(serve.port, "/twiml/voice", webhook("+15551230000", call_sid_for(3))));
  const auto& gather = check_gather(root, "/twiml/pin");
  CHECK(gather.at("numDigits") == "4");
  CHECK(gather.at("timeout") == "7");
  CHECK(gather.child("Say").text == "Welcome. Please enter your PIN, then press the hash key.");
  CHECK(gather.child("Say").at("language") == "en-US");
  CHECK_FALSE(gather.child("Say").attribute("voice"));  // Twilio's default voice

  // Only POST, and a form from Twilio.
  CHECK(test::http_request(serve.port, "GET", "/twiml/voice").status == 405);
  CHECK(post_form(serve.port, "/twiml/voice", webhook(std::string(200, '1'), call_sid_for(4))).status == 400);
}

TEST_CASE("TwiML pin: the right PIN connects a stream with backendHosts, backendIds, executionId and a token",
          "[twiml][api]") {
  auto serve = test::start_serve({"--pins-file", test::secrets::pins_file(), "--twiml-pin-digits", "8",
                                  "--stream-token-secret", test::secrets::stream_token_secret});
  const auto sid = call_sid_for(10);
  const auto root = twiml_of(post_form(serve.port, "/twiml/pin", webhook("+15551110000", sid, test::secrets::pin)));
  REQUIRE(root.child_names() == Names{"Say", "Connect", "Redirect"});
  CHECK(root.child("Say").text == "Connecting you now.");
  // Once the stream is over, Twilio asks the flow what comes next (docs/call-control.md).
  // With stream tokens, its query carries the call's resume key (docs/call-control.md).
  CHECK(root.child("Redirect").text.rfind("/twiml/after-stream?resume=v1.", 0) == 0);
  CHECK(root.child("Redirect").at("method") == "POST");
  const auto& stream = root.child("Connect").child("Stream");
  CHECK(stream.at("url") == "wss://127.0.0.1:" + std::to_string(serve.port) + "/media");
  auto params = parameters_of(stream);
  REQUIRE(params.count("streamToken") == 1);
  test::secrets::remember(params["streamToken"]);
  CHECK(twilio::check_stream_token(test::secrets::stream_token_secret, params["streamToken"], sid,
                                   R"(["localhost:8888"])", unix_now()) == twilio::StreamTokenVerdict::valid);
  params.erase("streamToken");
  CHECK(params == std::map<std::string, std::string>{{"backendHosts", R"(["localhost:8888"])"},
                                                     {"backendIds", "[1]"},
                                                     {"executionId", sid},
                                                     {"streamMode", "connect"}});
  // Said once: without --public-url the stream URL comes from the Host header.
  CHECK_NOTHROW(serve.process->wait_for_stderr("no --public-url: the <Stream> URL is built from the webhook's Host"));
  // A success cleared the caller's count, as /validate-pin's does; the hashed PIN routes too.
  const auto second = twiml_of(
      post_form(serve.port, "/twiml/pin", webhook("+15551110000", call_sid_for(11), test::secrets::hashed_pin)));
  const auto second_params = parameters_of(second.child("Connect").child("Stream"));
  test::secrets::remember(second_params.at("streamToken"));
  CHECK(second_params.at("backendHosts") == R"(["localhost:8888","localhost:8889"])");
  CHECK(second_params.at("backendIds") == "[2]");
}

TEST_CASE("TwiML pin: a wrong PIN gathers again, the last try says goodbye, and failures count as /validate-pin's",
          "[twiml][api]") {
  auto serve = test::start_serve({"--pins-file", test::secrets::pins_file(), "--twiml-pin-digits", "8",
                                  "--twiml-max-tries", "3", "--attempts-allowed", "4", "--debug-routes"});
  const auto caller = "+15552220000";
  const auto first = twiml_of(post_form(serve.port, "/twiml/pin", webhook(caller, call_sid_for(20), "0")));
  check_gather(first, "/twiml/pin?tries=1", true);
  CHECK(first.children[0].text == "That PIN was not recognised.");
  check_gather(twiml_of(post_form(serve.port, "/twiml/pin?tries=1", webhook(caller, call_sid_for(20), "1"))),
               "/twiml/pin?tries=2", true);
  // The third wrong PIN of the call: out of tries.
  check_goodbye(twiml_of(post_form(serve.port, "/twiml/pin?tries=2", webhook(caller, call_sid_for(20), "2"))),
                {"That PIN was not recognised.", "Goodbye."});
  // Each was counted against the caller, in the same store /validate-pin uses.
  CHECK(json::parse(test::http_request(serve.port, "GET", "/auth-attempts/" + std::string(caller)).body) ==
        json{{"attempts", 3}});
  // '#' alone: another try, nothing counted.
  check_gather(twiml_of(post_form(serve.port, "/twiml/pin", webhook(caller, call_sid_for(21), ""))),
               "/twiml/pin?tries=1", true);
  // A new call: two more failures exceed --attempts-allowed 4, and the caller is blocked.
  check_gather(twiml_of(post_form(serve.port, "/twiml/pin", webhook(caller, call_sid_for(22), "3"))),
               "/twiml/pin?tries=1", true);
  check_goodbye(twiml_of(post_form(serve.port, "/twiml/pin?tries=1", webhook(caller, call_sid_for(22), "4"))),
                {"That PIN was not recognised.", "Goodbye."});
  CHECK(test::http_request(serve.port, "GET", "/blocked-callers/" + std::string(caller)).status == 200);
  // Blocked: even the right PIN gets the goodbye, and so does the next call's webhook.
  check_goodbye(twiml_of(post_form(serve.port, "/twiml/pin", webhook(caller, call_sid_for(23), test::secrets::pin))),
                {"Goodbye."});
  check_goodbye(twiml_of(post_form(serve.port, "/twiml/voice", webhook(caller, call_sid_for(24)))), {"Goodbye."});

  // Malformed requests are 400, never a TwiML answer.
  CHECK(post_form(serve.port, "/twiml/pin?tries=x", webhook("+1555", call_sid_for(25), "1")).status == 400);
  CHECK(post_form(serve.port, "/twiml/pin", webhook("+1555", "", "1")).status == 400);
  CHECK(post_form(serve.port, "/twiml/pin", webhook("+1555", std::string(65, 'C'), "1")).status == 400);
  CHECK(post_form(serve.port, "/twiml/pin", webhook("+1555", call_sid_for(26), std::string(65, '1'))).status == 400);
}

TEST_CASE("TwiML pin: a spent failure budget is a wrong PIN, as /validate-pin answers it", "[twiml][api][budget]") {
  auto serve = test::start_serve(
      {"--pins-file", test::secrets::pins_file(), "--pin-failures-global", "2", "--twiml-max-tries", "10"});
  for (int i = 0; i < 2; ++i) {
    check_gather(
        twiml_of(post_form(serve.port, "/twiml/pin",
                           webhook("+1555300" + std::to_string(i), call_sid_for(30 + i), test::secrets::wrong_pin))),
        "/twiml/pin?tries=1", true);
  }
  // Budget spent: the right PIN is refused too.
  check_gather(
      twiml_of(post_form(serve.port, "/twiml/pin", webhook("+15553009", call_sid_for(39), test::secrets::pin))),
      "/twiml/pin?tries=1", true);
  CHECK(metric(serve.port, R"(callproxy_pin_checks_refused_total{budget="global"})") == 1);
}

TEST_CASE("TwiML pin: a PIN check that cannot be made says try later and hangs up, nothing counted",
          "[twiml][api][pin-api]") {
  test::CannedHttpServer api(500, "{}");
  auto serve = test::start_serve({"--pin-api", api.base_url(), "--debug-routes"});
  const auto root = twiml_of(post_form(serve.port, "/twiml/pin", webhook("+15554440000", call_sid_for(40), "1234")));
  check_goodbye(root, {"Sorry, your PIN cannot be checked right now. Please try again later. Goodbye."});
  CHECK(test::http_request(serve.port, "GET", "/auth-attempts/+15554440000").status == 404);
  CHECK(api.requests().size() == 1);
}

TEST_CASE("TwiML: a state store that cannot answer says try later and hangs up", "[twiml][api][redis]") {
  test::RedisServer redis;
  auto serve = test::start_serve({"--store", redis.url(), "--pins-file", demo_pins});
  check_gather(twiml_of(post_form(serve.port, "/twiml/voice", webhook("+15554440001", call_sid_for(41)))),
               "/twiml/pin");
  redis.stop();
  const std::vector<std::string> try_later{
      "Sorry, your PIN cannot be checked right now. Please try again later. Goodbye."};
  check_goodbye(twiml_of(post_form(serve.port, "/twiml/voice", webhook("+15554440001", call_sid_for(42)))), try_later);
  check_goodbye(twiml_of(post_form(serve.port, "/twiml/pin", webhook("+15554440001", call_sid_for(42), "1234"))),
                try_later);
}

TEST_CASE("TwiML pin with --stream-mode fork starts a one-way stream and holds the call while it runs",
          "[twiml][stream-mode]") {
  test::BackendServer backend;
  auto serve = test::start_serve({"--pins-file", demo_pins, "--stream-mode", "fork", "--public-url",
                                  "https://calls.example.com", "--twiml-backend", "10.0.0.5:8900"});
  const auto sid = call_sid_for(50);
  const auto root = twiml_of(post_form(serve.port, "/twiml/pin", webhook("+15555550000", sid, "1234")));
  REQUIRE(root.child_names() == Names{"Say", "Start", "Pause", "Redirect"});
  const auto& stream = root.child("Start").child("Stream");
  CHECK(stream.at("url") == "wss://calls.example.com/media");
  CHECK(parameters_of(stream).at("streamMode") == "fork");
  CHECK(parameters_of(stream).at("backendHosts") == R"(["localhost:8888"])");  // the PIN's own backends win
  // Held a few seconds at a time: then Twilio asks whether the stream still runs.
  CHECK(root.child("Pause").at("length") == "5");
  const auto poll_url = root.child("Redirect").text;
  CHECK(poll_url == "https://calls.example.com/twiml/after-stream?poll=1");
  const auto poll = [&] {
    return twiml_of(post_form(serve.port, "/twiml/after-stream?poll=1", webhook("+15555550000", sid)));
  };
  // The stream runs: held again.
  auto params = parameters_of(stream);
  params["backendHosts"] = json::array({backend.host_port()}).dump();
  StreamCall call(serve.port, sid, params);
  call.start();
  REQUIRE(backend.wait_for_messages(1));
  CHECK(poll().child_names() == Names{"Pause", "Redirect"});
  // Its bot hangs up: the next poll carries it out.
  backend.send_text(R"({"event":"hangup","say":"Bye."})");
  REQUIRE(call.ws.wait_closed());
  const auto after = poll();
  REQUIRE(after.child_names() == Names{"Say", "Hangup"});
  CHECK(after.child("Say").text == "Bye.");
  CHECK(serve.process->err().find("no --public-url") == std::string::npos);
  // With --public-url the gather's action is absolute, for a proxy that serves us under a path.
  const auto gather = twiml_of(post_form(serve.port, "/twiml/voice", webhook("+15555550001", call_sid_for(51))));
  check_gather(gather, "https://calls.example.com/twiml/pin");
}

TEST_CASE("TwiML pin: --twiml-backend is what a PIN without backends streams to", "[twiml][api]") {
  const auto pins = test::temp_path("twiml-pins.json");
  { std::ofstream(pins) << R"([{"pin": "2468"}])"; }
  auto serve = test::start_serve({"--pins-file", pins, "--twiml-backend", "127.0.0.1:8901,wss://bot.example.com/x"});
  const auto root = twiml_of(post_form(serve.port, "/twiml/pin", webhook("+15556660000", call_sid_for(60), "2468")));
  const auto params = parameters_of(root.child("Connect").child("Stream"));
  CHECK(params.at("backendHosts") == R"(["127.0.0.1:8901","wss://bot.example.com/x"])");
  CHECK(params.count("backendIds") == 0);   // none configured for the PIN
  CHECK(params.count("streamToken") == 0);  // no secret, no token
}

TEST_CASE("TwiML routes are signed routes: unsigned 400, wrong 403, rightly signed 200", "[twiml][signature]") {
  const std::string& token = test::secrets::auth_token;
  auto serve = test::start_serve({"--validate-signatures", "--pins-file", demo_pins}, {{"TWILIO_AUTH_TOKEN", token}});
  const std::string base = "https://127.0.0.1:" + std::to_string(serve.port);
  const auto params = webhook("+15557770000", call_sid_for(70));
  CHECK(post_form(serve.port, "/twiml/voice", params).status == 400);
  const auto forged = twilio::compute_signature(test::secrets::other_auth_token, base + "/twiml/voice", params);
  CHECK(post_form(serve.port, "/twiml/voice", params, {{"X-Twilio-Signature", forged}}).status == 403);
  const auto good = twilio::compute_signature(token, base + "/twiml/voice", params);
  test::secrets::remember(good);
  check_gather(twiml_of(post_form(serve.port, "/twiml/voice", params, {{"X-Twilio-Signature", good}})), "/twiml/pin");
  // A signature over other form values does not pass.
  const auto other = webhook("+15557770001", call_sid_for(70));
  CHECK(post_form(serve.port, "/twiml/voice", other, {{"X-Twilio-Signature", good}}).status == 403);

  // The action URL's query is part of what is signed.
  const auto pin_params = webhook("+15557770000", call_sid_for(70), "1234");
  const auto pin_sig = twilio::compute_signature(token, base + "/twiml/pin?tries=1", pin_params);
  test::secrets::remember(pin_sig);
  CHECK(post_form(serve.port, "/twiml/pin?tries=1", pin_params).status == 400);
  CHECK(post_form(serve.port, "/twiml/pin?tries=2", pin_params, {{"X-Twilio-Signature", pin_sig}}).status == 403);
  const auto connected = twiml_of(
      post_form(serve.port, "/twiml/pin?tries=1", pin_params, {{"X-Twilio-Signature", pin_sig}}));
  CHECK(connected.child_names() == Names{"Say", "Connect", "Redirect"});
  // The after-stream step is signed like the rest.
  const auto after_params = webhook("+15557770000", call_sid_for(70));
  CHECK(post_form(serve.port, "/twiml/after-stream", after_params).status == 400);
  const auto after_sig = twilio::compute_signature(token, base + "/twiml/after-stream", after_params);
  test::secrets::remember(after_sig);
  CHECK(post_form(serve.port, "/twiml/after-stream", after_params, {{"X-Twilio-Signature", forged}}).status == 403);
  const auto after = twiml_of(
      post_form(serve.port, "/twiml/after-stream", after_params, {{"X-Twilio-Signature", after_sig}}));
  CHECK(after.child_names() == Names{"Say", "Hangup"});  // no decision, --after-stream goodbye
}

TEST_CASE("one --public-url serves both kinds of signed URL: https:// for webhooks, wss:// for the stream",
          "[twiml][signature]") {
  const std::string& token = test::secrets::auth_token;
  for (const std::string public_url : {"wss://calls.example.com", "https://calls.example.com/"}) {
    INFO(public_url);
    auto serve = test::start_serve({"--validate-signatures", "--pins-file", demo_pins, "--public-url", public_url},
                                   {{"TWILIO_AUTH_TOKEN", token}});
    // Twilio signs the webhook's https:// URL and the stream's wss:// URL, whichever form was given.
    const auto params = webhook("+15557770002", call_sid_for(71));
    const auto webhook_sig = twilio::compute_signature(token, "https://calls.example.com/twiml/voice", params);
    test::secrets::remember(webhook_sig);
    const auto root = twiml_of(post_form(serve.port, "/twiml/voice", params, {{"X-Twilio-Signature", webhook_sig}}));
    check_gather(root, "https://calls.example.com/twiml/pin");
    const auto pin_params = webhook("+15557770002", call_sid_for(71), "1234");
    const auto pin_sig = twilio::compute_signature(token, "https://calls.example.com/twiml/pin", pin_params);
    test::secrets::remember(pin_sig);
    const auto connect = twiml_of(post_form(serve.port, "/twiml/pin", pin_params, {{"X-Twilio-Signature", pin_sig}}));
    CHECK(connect.child("Connect").child("Stream").at("url") == "wss://calls.example.com/media");
    CHECK(connect.child("Redirect").text == "https://calls.example.com/twiml/after-stream");
    const auto media_sig = twilio::compute_signature(token, "wss://calls.example.com/media", {});
    test::secrets::remember(media_sig);
    CHECK_NOTHROW(test::WsClient(serve.port, "/media", {{"X-Twilio-Signature", media_sig}}));
    // The other scheme's signature is not the one Twilio makes: refused.
    const auto wrong = twilio::compute_signature(token, "https://calls.example.com/media", {});
    test::secrets::remember(wrong);
    CHECK_THROWS_AS(test::WsClient(serve.port, "/media", {{"X-Twilio-Signature", wrong}}), test::HandshakeRefused);
  }
}

TEST_CASE("TwiML prompts, voice and language holding <&\"'> are escaped and read back as configured", "[twiml][xml]") {
  const std::string nasty = R"(Press <1> & "2" 'now')";
  auto serve = test::start_serve({"--pins-file", demo_pins, "--twiml-welcome", nasty, "--twiml-voice",
                                  "Polly.\"x\"&<y>", "--twiml-language", "en-'GB'", "--twiml-goodbye", "Bye & <bye>",
                                  "--twiml-pin-digits", "0"});
  const auto root = twiml_of(post_form(serve.port, "/twiml/voice", webhook("+15558880000", call_sid_for(80))));
  const auto& gather = check_gather(root, "/twiml/pin", false, "Bye & <bye>");
  CHECK_FALSE(gather.attribute("numDigits"));  // 0: the caller ends the PIN with '#'
  const auto& say = gather.child("Say");
  CHECK(say.text == nasty);
  CHECK(say.at("voice") == "Polly.\"x\"&<y>");
  CHECK(say.at("language") == "en-'GB'");
}

// ---- stream tokens on /media --------------------------------------------------------------

TEST_CASE("a stream whose token the TwiML flow minted streams to its backend", "[twiml][stream-token][media]") {
  test::BackendServer backend;
  const auto pins = test::temp_path("twiml-token-pins.json");
  {
    std::ofstream(pins) << R"([{"pin": "1357", "backendIds": [5], "backendHosts": [")" << backend.host_port()
                        << R"("]}])";
  }
  auto serve = test::start_serve({"--pins-file", pins, "--stream-token-secret", test::secrets::stream_token_secret});
  const auto sid = call_sid_for(90);
  const auto root = twiml_of(post_form(serve.port, "/twiml/pin", webhook("+15559990000", sid, "1357")));
  const auto params = parameters_of(root.child("Connect").child("Stream"));
  test::secrets::remember(params.at("streamToken"));

  StreamCall call(serve.port, sid, params);
  call.start();
  REQUIRE(backend.wait_for_messages(1));
  call.ws.send_text(call.writer.media(std::vector<std::uint8_t>(160, 0x11)));
  REQUIRE(backend.wait_for_messages(2));
  const auto start = json::parse(backend.messages()[0]);
  CHECK(start.at("event") == "start");
  CHECK(start.at("customParameters").at("executionId") == sid);
  CHECK(start.at("customParameters").count("streamToken") == 0);  // for serve, not for backends
  CHECK(json::parse(backend.messages()[1]).at("event") == "media");
  CHECK_FALSE(call.ws.wait_closed(0ms));
  CHECK(test::http_request(serve.port, "GET", "/executions/" + sid + "/connected").status == 200);

  // A client that is not Twilio may carry the token in the handshake's query.
  const auto sid2 = call_sid_for(91);
  const auto hosts = json::array({backend.host_port()}).dump();
  const auto token = twilio::mint_stream_token(test::secrets::stream_token_secret, sid2, hosts, unix_now() + 60);
  test::secrets::remember(token);
  StreamCall query_call(serve.port, sid2, {{"backendHosts", hosts}}, "/media?token=" + token);
  query_call.start();
  CHECK(backend.wait_for_connections(2));
  CHECK_FALSE(query_call.ws.wait_closed(200ms));
}

TEST_CASE("a stream with a missing, forged, expired or other backends' token is closed 1008 before any backend",
          "[twiml][stream-token][media]") {
  test::BackendServer backend, other;
  auto serve = test::start_serve({"--stream-token-secret", test::secrets::stream_token_secret});
  const auto hosts = json::array({backend.host_port()}).dump();
  const auto now = unix_now();
  const auto& secret = test::secrets::stream_token_secret;
  struct Case {
    const char* what;
    std::map<std::string, std::string> params;
    const char* reason;
  };
  const auto sid = call_sid_for(100);
  const std::vector<Case> cases{
      {"missing", {{"backendHosts", hosts}}, "missing stream token"},
      {"forged",
       {{"backendHosts", hosts},
        {"streamToken", twilio::mint_stream_token("forged-secret-0123456789", sid, hosts, now + 60)}},
       "invalid stream token"},
      {"garbage", {{"backendHosts", hosts}, {"streamToken", "v1.x.y"}}, "invalid stream token"},
      {"expired",
       {{"backendHosts", hosts}, {"streamToken", twilio::mint_stream_token(secret, sid, hosts, now - 1)}},
       "expired stream token"},
      {"other backends",
       {{"backendHosts", json::array({other.host_port()}).dump()},
        {"streamToken", twilio::mint_stream_token(secret, sid, hosts, now + 60)}},
       "invalid stream token"},
      {"another call",
       {{"backendHosts", hosts},
        {"streamToken", twilio::mint_stream_token(secret, call_sid_for(101), hosts, now + 60)}},
       "invalid stream token"},
      {"no backendHosts (the --backend list)",
       {{"streamToken", twilio::mint_stream_token(secret, sid, hosts, now + 60)}},
       "invalid stream token"},
  };
  double refused = 0;
  for (const auto& c : cases) {
    INFO(c.what);
    if (c.params.count("streamToken")) test::secrets::remember(c.params.at("streamToken"));
    StreamCall call(serve.port, sid, c.params);
    call.start();
    REQUIRE(call.ws.wait_closed());
    CHECK(call.ws.close_code() == 1008);
    CHECK(call.ws.close_reason() == c.reason);
    CHECK(metric(serve.port, R"(callproxy_streams_refused_total{reason="stream_token"})") == ++refused);
  }
  CHECK(backend.connections() == 0);
  CHECK(other.connections() == 0);
  CHECK(test::eventually([&] { return metric(serve.port, "callproxy_active_calls") == 0; }));
}

TEST_CASE("a stream token serves one stream: another stream with it, at once or later, is refused as an invalid one",
          "[twiml][stream-token][media]") {
  const auto db = test::temp_path("tokens.db");
  for (const auto& store : {std::string("memory"), "sqlite:" + db}) {
    INFO(store);
    test::BackendServer backend;
    auto serve = test::start_serve({"--stream-token-secret", test::secrets::stream_token_secret, "--store", store});
    const auto sid = call_sid_for(110);
    const auto hosts = json::array({backend.host_port()}).dump();
    const auto token = twilio::mint_stream_token(test::secrets::stream_token_secret, sid, hosts, unix_now() + 60);
    test::secrets::remember(token);
    const std::map<std::string, std::string> params{{"backendHosts", hosts}, {"streamToken", token}};
    const auto refused = [&] {
      return metric(serve.port, R"(callproxy_streams_refused_total{reason="stream_token"})");
    };

    StreamCall first(serve.port, sid, params);
    first.start();
    REQUIRE(backend.wait_for_messages(1));

    // The same token on a second stream while the first lives (a replayed handshake and start).
    StreamCall second(serve.port, sid, params);
    second.start();
    REQUIRE(second.ws.wait_closed());
    CHECK(second.ws.close_code() == 1008);
    CHECK(second.ws.close_reason() == "stream token already used");
    CHECK(refused() == 1);
    // The first streams on, to its one backend.
    first.ws.send_text(first.writer.media(std::vector<std::uint8_t>(160, 0x22)));
    REQUIRE(backend.wait_for_messages(2));
    CHECK_FALSE(first.ws.wait_closed(0ms));

    // And once the first has ended, a later stream with it is refused all the same; as the
    // token's query form is.
    first.ws.close();
    REQUIRE(test::eventually([&] { return metric(serve.port, "callproxy_active_calls") == 0; }));
    StreamCall later(serve.port, sid, params);
    later.start();
    REQUIRE(later.ws.wait_closed());
    CHECK(later.ws.close_code() == 1008);
    CHECK(later.ws.close_reason() == "stream token already used");
    StreamCall by_query(serve.port, sid, {{"backendHosts", hosts}}, "/media?token=" + token);
    by_query.start();
    REQUIRE(by_query.ws.wait_closed());
    CHECK(by_query.ws.close_reason() == "stream token already used");
    CHECK(refused() == 3);
    CHECK(backend.connections() == 1);
    serve.process->signal(SIGTERM);
    REQUIRE(serve.process->wait() == 0);
    CHECK(test::count_of(serve.process->err(), "stream token already used: closing the stream (1008)") == 3);
  }
  for (const auto* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
}

TEST_CASE(
    "two serve instances on one Redis: a token used on one is refused on the other, and with Redis away none gets in",
    "[twiml][stream-token][media][redis]") {
  test::RedisServer redis;
  test::BackendServer backend;
  const std::vector<std::string> args{"--stream-token-secret", test::secrets::stream_token_secret, "--store",
                                      redis.url()};
  auto one = test::start_serve(args);
  auto other = test::start_serve(args);
  const auto sid = call_sid_for(120);
  const auto hosts = json::array({backend.host_port()}).dump();
  const auto token = twilio::mint_stream_token(test::secrets::stream_token_secret, sid, hosts, unix_now() + 60);
  test::secrets::remember(token);
  const std::map<std::string, std::string> params{{"backendHosts", hosts}, {"streamToken", token}};

  // Audio sent straight after the start, while the token is being claimed, reaches the backend
  // whole and in order once it is connected.
  StreamCall on_one(one.port, sid, params);
  on_one.start();
  for (std::uint8_t i = 1; i <= 5; ++i) on_one.ws.send_text(on_one.writer.media(std::vector<std::uint8_t>(160, i)));
  REQUIRE(backend.wait_for_messages(6));
  const auto received = backend.messages();
  CHECK(json::parse(received[0]).at("event") == "start");
  for (std::uint8_t i = 1; i <= 5; ++i) {
    CHECK(json::parse(received[i]).at("media") == twilio::base64_encode(std::vector<std::uint8_t>(160, i)));
  }
  StreamCall on_other(other.port, sid, params);
  on_other.start();
  REQUIRE(on_other.ws.wait_closed());
  CHECK(on_other.ws.close_code() == 1008);
  CHECK(on_other.ws.close_reason() == "stream token already used");
  CHECK(metric(other.port, R"(callproxy_streams_refused_total{reason="stream_token"})") == 1);
  CHECK(backend.connections() == 1);
  // Redis holds the claim under the token's digest, never the token itself.
  CHECK(redis.command({"EXISTS", "callproxy:stream-token:" + twilio::stream_token_id(token)}).integer == 1);
  CHECK(redis.command({"KEYS", "*" + token.substr(token.rfind('.') + 1) + "*"}).elements.empty());

  // A token that cannot be claimed is not taken on trust: the stream is refused, try again later.
  redis.stop();
  const auto sid2 = call_sid_for(121);
  const auto token2 = twilio::mint_stream_token(test::secrets::stream_token_secret, sid2, hosts, unix_now() + 60);
  test::secrets::remember(token2);
  StreamCall unchecked(other.port, sid2, {{"backendHosts", hosts}, {"streamToken", token2}});
  unchecked.start();
  REQUIRE(unchecked.ws.wait_closed());
  CHECK(unchecked.ws.close_code() == 1013);
  CHECK(unchecked.ws.close_reason() == "stream token cannot be checked");
  CHECK(backend.connections() == 1);
  CHECK_FALSE(on_one.ws.wait_closed(0ms));  // a live call does not need the store
}

TEST_CASE("serve refuses a short or empty stream token secret and TwiML settings out of range at start",
          "[twiml][stream-token]") {
  const std::vector<std::vector<std::string>> bad{{"--stream-token-secret", "fifteen-chars!!"},
                                                  {"--stream-token-secret", ""},
                                                  {"--twiml-pin-digits", "65"},
                                                  {"--twiml-max-tries", "0"},
                                                  {"--twiml-max-tries", "101"},
                                                  {"--twiml-gather-timeout", "0"},
                                                  {"--twiml-gather-timeout", "601"},
                                                  {"--stream-token-ttl", "0"},
                                                  {"--twiml-backend", "not a host"}};
  for (const auto& args : bad) {
    INFO(args.at(0) << " " << args.at(1));
    auto argv = test::callproxy_args({"serve", "--bind", "127.0.0.1", "--port", "0", "--store", "memory"});
    argv.insert(argv.end(), args.begin(), args.end());
    const auto result = test::run_command(argv);
    CHECK(result.exit_code == 2);
    CHECK(result.err.find(args.at(0)) != std::string::npos);
    CHECK(result.err.find("listening") == std::string::npos);
  }
  const auto env = test::run_command(
      test::callproxy_args({"serve", "--bind", "127.0.0.1", "--port", "0", "--store", "memory"}),
      {{"CALLPROXY_STREAM_TOKEN_SECRET", "short"}});
  CHECK(env.exit_code == 2);
  CHECK(env.err.find("CALLPROXY_STREAM_TOKEN_SECRET") != std::string::npos);
  // Set but empty: CLI11 takes it for unset, and serve started with no tokens required.
  const auto empty = test::run_command(
      test::callproxy_args({"serve", "--bind", "127.0.0.1", "--port", "0", "--store", "memory"}),
      {{"CALLPROXY_STREAM_TOKEN_SECRET", ""}});
  CHECK(empty.exit_code == 2);
  CHECK(empty.err.find("CALLPROXY_STREAM_TOKEN_SECRET) is empty") != std::string::npos);
}

// ---- the Studio flow asset ----------------------------------------------------------------

TEST_CASE("assets/studio-flow.json is a flow whose every URL is a route serve answers", "[twiml][studio]") {
  std::ifstream file(std::string(CALLPROXY_ASSETS) + "/studio-flow.json");
  REQUIRE(file);
  const auto flow = json::parse(file);  // throws on invalid JSON
  REQUIRE(flow.at("states").is_array());
  std::set<std::string> names;
  for (const auto& state : flow.at("states")) names.insert(state.at("name").get<std::string>());
  CHECK(names.count(flow.at("initial_state").get<std::string>()) == 1);

  auto serve = test::start_serve({"--pins-file", demo_pins});
  const std::string host = "callproxy.example.com";
  // What Studio puts in the templates, as a call would have it.
  const auto fill = [](std::string text) {
    for (const auto& [from, to] :
         std::vector<std::pair<std::string, std::string>>{{"{{trigger.call.From}}", "+15551234567"},
                                                          {"{{flow.sid}}", "FN0123456789abcdef0123456789abcdef"},
                                                          {"{{widgets.gather_pin.Digits}}", "1234"}}) {
      for (auto at = text.find(from); at != std::string::npos; at = text.find(from)) text.replace(at, from.size(), to);
    }
    return text;
  };
  std::set<std::string> paths;
  bool streams = false;
  for (const auto& state : flow.at("states")) {
    INFO(state.at("name"));
    for (const auto& t : state.at("transitions")) {
      if (t.contains("next")) CHECK(names.count(t.at("next").get<std::string>()) == 1);
    }
    const auto& p = state.at("properties");
    for (const auto* key : {"url", "stream_url"}) {
      if (!p.contains(key)) continue;
      const auto url = fill(p.at(key).get<std::string>());
      INFO(url);
      const std::string scheme = key == std::string("url") ? "https://" : "wss://";
      REQUIRE(url.rfind(scheme + host + "/", 0) == 0);
      const auto path = url.substr(scheme.size() + host.size());
      REQUIRE(path.find("{{") == std::string::npos);
      paths.insert(path.substr(0, path.find('/', 1)));
      test::HttpReply reply;
      if (key == std::string("stream_url")) {
        reply = test::http_request(serve.port, "GET", path);
        CHECK(reply.status == 426);  // the WebSocket endpoint
        std::map<std::string, std::string> params;
        for (const auto& param : p.at("stream_parameters")) params[param.at("key")] = param.at("value");
        CHECK(params.at("backendHosts") == "{{widgets.validate_pin.parsed.backendHosts}}");
        CHECK(params.at("executionId") == "{{flow.sid}}");
        streams = true;
      } else if (state.at("type") == "add-twiml-redirect") {
        // Studio hands the call to serve's TwiML: posted as Twilio posts a webhook.
        CHECK(p.at("method") == "POST");
        const auto root = twiml_of(reply = post_form(serve.port, path, webhook("+15551234567", call_sid_for(80))));
        CHECK(root.child_names() == Names{"Say", "Hangup"});  // no decision: --after-stream goodbye
      } else if (p.at("method") == "POST") {
        reply = test::http_request(serve.port, "POST", path, {{"Content-Type", p.at("content_type")}},
                                   fill(p.at("body").get<std::string>()));
        CHECK(reply.status == 200);
        CHECK(json::parse(reply.body).at("authenticated") == true);  // demo PIN 1234
      } else {
        reply = test::http_request(serve.port, p.at("method").get<std::string>(), path);
      }
      INFO(reply.status << " " << reply.body);
      CHECK(reply.body.rfind(R"({"message":"no route for)", 0) == std::string::npos);
      CHECK(reply.status != 405);  // the route exists with this method
    }
  }
  CHECK(streams);
  CHECK(paths == std::set<std::string>{"/blocked-callers", "/validate-pin", "/media", "/executions", "/twiml"});
}
