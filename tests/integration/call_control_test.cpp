// The bot steering its call, through the real binary: a primary's control message is kept under
// the call's CallSid and closes the stream; the flow's after-stream step then hangs up, transfers
// or hands off; without a decision --after-stream applies (goodbye, reconnect up to
// --max-reconnects, dial); a newer stream for a CallSid replaces the older; a drain with
// --after-stream reconnect hands its calls to an instance sharing the store.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <set>

#include "support/child_process.h"
#include "support/media_call.h"
#include "support/test_secrets.h"
#include "support/twiml_flow.h"
#include "support/wait.h"
#include "test_data.h"
#include "twilio/percent_encoding.h"
#include "twilio/stream_token.h"

using namespace callproxy;
using namespace std::chrono_literals;
using callproxy::XmlElement;
using nlohmann::json;
using test::call_sid_for;
using test::metric;
using test::Names;
using test::parameters_of;
using test::post_form;
using test::StreamCall;
using test::twiml_of;
using test::webhook;

namespace {

// A pins file whose PIN 2468 streams to `backends` (host:port texts).
std::string pins_for(const std::vector<std::string>& backends) {
  const auto path = test::temp_path("control-pins.json");
  std::ofstream(path) << json::array({{{"pin", "2468"}, {"backendIds", {7}}, {"backendHosts", backends}}}).dump();
  return path;
}

// The caller enters the right PIN: the flow's answer, with its <Connect><Stream> and <Redirect>.
XmlElement connect(unsigned short port, const std::string& call_sid) {
  auto root = twiml_of(post_form(port, "/twiml/pin", webhook("+15553330000", call_sid, "2468")));
  REQUIRE(root.child_names() == Names{"Say", "Connect", "Redirect"});
  CHECK(root.child("Redirect").text.rfind("/twiml/after-stream", 0) == 0);
  return root;
}

// Twilio, past the stream, following the <Redirect> of `previous` (its path and query; with
// stream tokens, the query carries the call's resume key): what the flow answers now.
XmlElement after_stream(unsigned short port, const std::string& call_sid, const XmlElement& previous) {
  auto target = previous.child("Redirect").text;
  if (const auto scheme = target.find("://"); scheme != std::string::npos)
    target = target.substr(target.find('/', scheme + 3));
  return twiml_of(post_form(port, target, webhook("+15553330000", call_sid)));
}
XmlElement after_stream(unsigned short port, const std::string& call_sid) {
  return twiml_of(post_form(port, "/twiml/after-stream", webhook("+15553330000", call_sid)));
}

// A stream as Twilio opens it from the flow's <Stream>, started, with its backend connected.
struct FlowStream {
  FlowStream(unsigned short port, const std::string& call_sid, const XmlElement& root, test::BackendServer& backend,
             std::size_t connection = 0, const std::string& stream_sid = "MZ0123456789abcdef0123456789abcdef")
      : call(port, call_sid, parameters_of(root.child("Connect").child("Stream")), "/media", stream_sid) {
    call.start();
    REQUIRE(backend.wait_for_messages(1, connection));
    CHECK(json::parse(backend.messages(connection).at(0)).at("callSid") == call_sid);
  }
  StreamCall call;
};

double after(unsigned short port, const std::string& outcome) {
  return metric(port, "callproxy_after_stream_total{outcome=\"" + outcome + "\"}");
}

}  // namespace

TEST_CASE("a bot hangs up: its stream closes 1000, then the flow says its words and hangs up, once",
          "[call-control][twiml]") {
  test::BackendServer backend;
  auto serve = test::start_serve({"--pins-file", pins_for({backend.host_port()})});
  const auto sid = call_sid_for(501);
  FlowStream stream(serve.port, sid, connect(serve.port, sid), backend);
  // Before any decision, Twilio would hear the policy (goodbye); the stream is untouched.
  backend.send_text(R"({"event":"hangup","say":"Thanks for calling & goodbye."})");
  REQUIRE(stream.call.ws.wait_closed());
  CHECK(stream.call.ws.close_code() == 1000);
  REQUIRE(backend.wait_closed());
  CHECK(json::parse(backend.messages().back()).at("event") == "stop");  // the bot hears the call is over
  const auto root = after_stream(serve.port, sid);
  REQUIRE(root.child_names() == Names{"Say", "Hangup"});
  CHECK(root.child("Say").text == "Thanks for calling & goodbye.");
  // Taken once: a second request (Twilio retrying, another instance) finds no decision.
  const auto again = after_stream(serve.port, sid);
  CHECK(again.child_names() == Names{"Say", "Hangup"});
  CHECK(again.child("Say").text == "Goodbye.");
  CHECK(metric(serve.port, "callproxy_call_decisions_total{decision=\"hangup\"}") == 1);
  CHECK(after(serve.port, "hangup") == 1);
  CHECK(after(serve.port, "goodbye") == 1);
}

TEST_CASE("a bot that decides and closes its socket at once: the decision is kept before the stream closes",
          "[call-control][twiml]") {
  test::BackendServer backend;
  auto serve = test::start_serve(
      {"--pins-file", pins_for({backend.host_port()}), "--no-backend-reconnect", "--after-stream", "reconnect"});
  for (int i = 0; i < 5; ++i) {  // a race, tried a few times
    INFO("call " << i);
    const auto sid = call_sid_for(520 + i);
    const auto root = connect(serve.port, sid);
    FlowStream stream(serve.port, sid, root, backend, i);
    backend.send_text(R"({"event":"hangup","say":"Done."})", i);
    backend.kill(i);
    REQUIRE(stream.call.ws.wait_closed());
    const auto after_root = after_stream(serve.port, sid, root);
    REQUIRE(after_root.child_names() == Names{"Say", "Hangup"});
    CHECK(after_root.child("Say").text == "Done.");  // the bot's words, not a reconnect
  }
  CHECK(after(serve.port, "reconnect") == 0);
}

TEST_CASE("a fork beside the call's two-way stream is not replaced by it, nor replaces it", "[call-control][media]") {
  test::BackendServer backend;
  auto serve = test::start_serve({"--pins-file", pins_for({backend.host_port()})});
  const auto sid = call_sid_for(530);
  const auto root = connect(serve.port, sid);
  auto fork_params = parameters_of(root.child("Connect").child("Stream"));
  fork_params["streamMode"] = "fork";
  StreamCall recorder(serve.port, sid, fork_params, "/media", "MZ00000000000000000000000000000031");
  recorder.start();
  REQUIRE(backend.wait_for_messages(1, 0));
  FlowStream bot(serve.port, sid, root, backend, 1, "MZ00000000000000000000000000000032");
  StreamCall second_fork(serve.port, sid, fork_params, "/media", "MZ00000000000000000000000000000033");
  second_fork.start();
  REQUIRE(backend.wait_for_messages(1, 2));
  // All three stream on.
  for (auto* ws : {&recorder.ws, &bot.call.ws, &second_fork.ws}) CHECK_FALSE(ws->wait_closed(0ms));
  CHECK(metric(serve.port, "callproxy_streams_replaced_total") == 0);
  CHECK(metric(serve.port, "callproxy_active_calls") == 3);
}

TEST_CASE("a bot transfers: an allowed number or SIP URI is dialled, any other is refused and the call goes on",
          "[call-control][twiml]") {
  test::BackendServer backend;
  auto serve = test::start_serve(
      {"--pins-file", pins_for({backend.host_port()}), "--transfer-allow", "+1555444*,sip:*@pbx.example.com"});
  const auto sid = call_sid_for(502);
  FlowStream stream(serve.port, sid, connect(serve.port, sid), backend);

  // Refused: not allowed (a premium number), malformed, and from a backend that is not the primary.
  backend.send_text(R"({"event":"transfer","to":"+19005550100"})");
  backend.send_text(R"({"event":"transfer","to":"+1 555 444 0000"})");
  REQUIRE(test::eventually([&] {
    return metric(serve.port, "callproxy_call_decisions_refused_total{reason=\"not_allowed\"}") == 1 &&
           metric(serve.port, "callproxy_call_decisions_refused_total{reason=\"invalid\"}") == 1;
  }));
  // The call goes on: Twilio's audio still reaches the bot, its replies still reach Twilio.
  stream.call.ws.send_text(stream.call.writer.media(std::vector<std::uint8_t>(160, 0x55)));
  REQUIRE(backend.wait_for_messages(2));
  backend.send_text(R"({"event":"mark","name":"still-here"})");
  const auto mark = stream.call.ws.receive();
  REQUIRE(mark);
  CHECK(json::parse(*mark).at("mark").at("name") == "still-here");
  CHECK_FALSE(stream.call.ws.wait_closed(0ms));
  CHECK(after_stream(serve.port, sid).child_names() == Names{"Say", "Hangup"});  // no decision was kept

  backend.send_text(R"({"event":"transfer","to":"sip:sales-7@PBX.example.com"})");
  REQUIRE(stream.call.ws.wait_closed());
  CHECK(stream.call.ws.close_code() == 1000);
  const auto root = after_stream(serve.port, sid);
  REQUIRE(root.child_names() == Names{"Dial"});
  REQUIRE(root.child("Dial").child_names() == Names{"Sip"});
  CHECK(root.child("Dial").child("Sip").text == "sip:sales-7@PBX.example.com");

  // A number, on another call.
  const auto sid2 = call_sid_for(503);
  FlowStream second(serve.port, sid2, connect(serve.port, sid2), backend, 1);
  backend.send_text(R"({"event":"transfer","to":"+15554440123"})", 1);
  REQUIRE(second.call.ws.wait_closed());
  const auto dialled = after_stream(serve.port, sid2);
  REQUIRE(dialled.child_names() == Names{"Dial"});
  CHECK(dialled.child("Dial").child("Number").text == "+15554440123");
  CHECK(metric(serve.port, "callproxy_call_decisions_total{decision=\"transfer\"}") == 2);
  CHECK(after(serve.port, "transfer") == 2);
}

TEST_CASE("a bot ends with handoff data: the call goes to --handoff-url with the fields, else to the policy",
          "[call-control][twiml]") {
  test::BackendServer backend;
  auto serve = test::start_serve({"--pins-file", pins_for({backend.host_port()}), "--handoff-url",
                                  "https://app.example.com/agent?queue=7", "--after-stream", "reconnect"});
  const auto sid = call_sid_for(504);
  FlowStream stream(serve.port, sid, connect(serve.port, sid), backend);
  backend.send_text(
      R"({"event":"end","handoff":{"intent":"billing & refunds","account":12345,"vip":true,"queue":"1"}})");
  REQUIRE(stream.call.ws.wait_closed());
  const auto root = after_stream(serve.port, sid);
  REQUIRE(root.child_names() == Names{"Redirect"});
  CHECK(root.child("Redirect").at("method") == "POST");
  const auto url = root.child("Redirect").text;
  CHECK(url.rfind("https://app.example.com/agent?queue=7&", 0) == 0);
  CHECK(twilio::query_param(url, "intent") == "billing & refunds");
  CHECK(twilio::query_param(url, "account") == "12345");
  CHECK(twilio::query_param(url, "vip") == "true");
  // The operator's own parameters win: the bot's "queue" is left out.
  CHECK(twilio::query_param(url, "queue") == "7");
  CHECK(url.find("queue=1") == std::string::npos);
  CHECK(after(serve.port, "handoff") == 1);

  // Without --handoff-url: the policy, but a bot that let its caller go does not get them back.
  test::BackendServer other;
  auto plain = test::start_serve({"--pins-file", pins_for({other.host_port()}), "--after-stream", "reconnect"});
  const auto sid2 = call_sid_for(505);
  FlowStream ended(plain.port, sid2, connect(plain.port, sid2), other);
  other.send_text(R"({"event":"end"})");
  REQUIRE(ended.call.ws.wait_closed());
  CHECK(after_stream(plain.port, sid2).child_names() == Names{"Say", "Hangup"});
  CHECK(after(plain.port, "goodbye") == 1);
  CHECK(after(plain.port, "reconnect") == 0);
}

TEST_CASE("without a decision, reconnect gives the call a new stream with a new token, --max-reconnects times",
          "[call-control][twiml][stream-token]") {
  test::BackendServer backend;
  // The bot's process dies for good: no backend left at once (no reconnect to it).
  auto serve = test::start_serve({"--pins-file", pins_for({backend.host_port()}), "--after-stream", "reconnect",
                                  "--max-reconnects", "2", "--no-backend-reconnect", "--stream-token-secret",
                                  test::secrets::stream_token_secret});
  const auto sid = call_sid_for(506);
  auto root = connect(serve.port, sid);
  const auto first_redirect = root.child("Redirect").text;
  CHECK(first_redirect.find("?resume=v1.") != std::string::npos);
  std::set<std::string> tokens;
  for (std::size_t round = 0; round < 3; ++round) {
    INFO("stream " << round);
    const auto params = parameters_of(root.child("Connect").child("Stream"));
    test::secrets::remember(params.at("streamToken"));
    CHECK(tokens.insert(params.at("streamToken")).second);  // a new token each time
    CHECK(params.at("backendHosts") == json::array({backend.host_port()}).dump());
    CHECK(params.at("backendIds") == "[7]");
    FlowStream stream(serve.port, sid, root, backend, round);
    backend.kill(round);  // the bot's process dies: no backend left
    REQUIRE(stream.call.ws.wait_closed());
    root = after_stream(serve.port, sid, root);
    if (round == 0) {
      // Straight back to the stream, without the "connecting" words.
      REQUIRE(root.child_names() == Names{"Connect", "Redirect"});
    } else if (round == 1) {
      // Again: after a pause, for the bot to come back.
      REQUIRE(root.child_names() == Names{"Pause", "Connect", "Redirect"});
      CHECK(root.child("Pause").at("length") == "1");
    }
  }
  CHECK(root.child_names() == Names{"Say", "Hangup"});
  CHECK(after(serve.port, "reconnect") == 2);
  CHECK(after(serve.port, "reconnects_spent") == 1);

  // With stream tokens, a request without its call's resume key (the one the flow wrote) hears the
  // goodbye and touches nothing: knowing a CallSid does not get a token minted, a decision taken
  // or reconnects spent.
  const auto sid2 = call_sid_for(508);
  const auto root2 = connect(serve.port, sid2);
  test::secrets::remember(parameters_of(root2.child("Connect").child("Stream")).at("streamToken"));
  CHECK(after_stream(serve.port, sid2).child_names() == Names{"Say", "Hangup"});
  CHECK(twiml_of(post_form(serve.port, first_redirect, webhook("+15553330000", sid2))).child_names() ==
        Names{"Say", "Hangup"});  // another call's key
  CHECK(after(serve.port, "refused") == 2);
  CHECK(after_stream(serve.port, sid2, root2).child_names() == Names{"Connect", "Redirect"});  // untouched
  // A call that never passed its PIN has no stream to resume, even with its own key.
  const auto key = twilio::mint_stream_token(test::secrets::stream_token_secret, call_sid_for(507), "after-stream",
                                             4102444800);
  test::secrets::remember(key);
  CHECK(twiml_of(post_form(serve.port, "/twiml/after-stream?resume=" + key, webhook("+15553330000", call_sid_for(507))))
            .child_names() == Names{"Say", "Hangup"});
  CHECK(after(serve.port, "refused") == 2);
  // Malformed requests are refused as on the other routes.
  CHECK(post_form(serve.port, "/twiml/after-stream", {{"From", "+15553330000"}}).status == 400);
  CHECK(post_form(serve.port, "/twiml/after-stream", webhook("+15553330000", std::string(65, 'C'))).status == 400);
}

TEST_CASE("without a decision, dial:<number> puts the caller through to a person", "[call-control][twiml]") {
  auto serve = test::start_serve({"--after-stream", "dial:+15550001111"});
  const auto root = after_stream(serve.port, call_sid_for(508));
  REQUIRE(root.child_names() == Names{"Dial"});
  CHECK(root.child("Dial").child("Number").text == "+15550001111");
  CHECK(after(serve.port, "dial") == 1);
}

TEST_CASE("bad call-control settings stop serve at start, naming them", "[call-control][cli]") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--after-stream", "retry"}, "is not an after-stream policy"},
      {{"--after-stream", "dial:5550001111"}, "is not an after-stream policy"},
      {{"--transfer-allow", "+1900*,*"}, "is not a transfer pattern"},
      {{"--handoff-url", "ftp://app.example.com/x"}, "is not a handoff URL"},
      {{"--handoff-url", "https://app.example.com/x#frag"}, "is not a handoff URL"},
      {{"--max-reconnects", "101"}, "--max-reconnects"},
  };
  for (const auto& [args, expected] : cases) {
    auto full = test::callproxy_args({"serve", "--port", "0", "--store", "memory"});
    full.insert(full.end(), args.begin(), args.end());
    const auto result = test::run_command(full);
    INFO(result.err);
    CHECK(result.exit_code != 0);
    CHECK(result.err.find(expected) != std::string::npos);
  }
}

TEST_CASE("control messages from a backend that is not the primary are ignored, and a second decision never replaces "
          "the first",
          "[call-control][twiml]") {
  test::BackendServer primary, listener;
  auto serve = test::start_serve(
      {"--pins-file", pins_for({primary.host_port(), listener.host_port()}), "--transfer-allow", "+*"});
  const auto sid = call_sid_for(509);
  FlowStream stream(serve.port, sid, connect(serve.port, sid), primary);
  REQUIRE(listener.wait_for_messages(1));
  const auto ignored = metric(serve.port, "callproxy_replies_ignored_total");
  listener.send_text(R"({"event":"hangup"})");
  REQUIRE(test::eventually([&] { return metric(serve.port, "callproxy_replies_ignored_total") == ignored + 1; }));
  CHECK_FALSE(stream.call.ws.wait_closed(0ms));
  // The primary decides twice at once: the first is kept; the second is refused (or, once the
  // stream has ended, ignored), never kept over it.
  primary.send_text(R"({"event":"transfer","to":"+15550002222"})");
  primary.send_text(R"({"event":"hangup"})");
  REQUIRE(stream.call.ws.wait_closed());
  CHECK(metric(serve.port, "callproxy_call_decisions_total{decision=\"hangup\"}") == 0);
  CHECK(after_stream(serve.port, sid).child("Dial").child("Number").text == "+15550002222");
}

TEST_CASE("a newer stream for a CallSid replaces the older: it is closed, its backends hear stop",
          "[call-control][media]") {
  test::BackendServer backend;
  auto serve = test::start_serve({"--pins-file", pins_for({backend.host_port()})});
  const auto sid = call_sid_for(510);
  const auto root = connect(serve.port, sid);
  FlowStream first(serve.port, sid, root, backend, 0, "MZ00000000000000000000000000000001");
  FlowStream second(serve.port, sid, root, backend, 1, "MZ00000000000000000000000000000002");
  REQUIRE(first.call.ws.wait_closed());
  CHECK(first.call.ws.close_code() == 1000);
  CHECK(first.call.ws.close_reason() == "replaced by a newer stream for this call");
  REQUIRE(backend.wait_closed(0));
  CHECK(json::parse(backend.messages(0).back()).at("event") == "stop");
  CHECK(metric(serve.port, "callproxy_streams_replaced_total") == 1);
  // The newer one streams on, and its end decides nothing for the call.
  second.call.ws.send_text(second.call.writer.media(std::vector<std::uint8_t>(160, 0x22)));
  REQUIRE(backend.wait_for_messages(2, 1));
  CHECK_FALSE(second.call.ws.wait_closed(0ms));
  CHECK(metric(serve.port, "callproxy_active_calls") == 1);
  // Another call's stream is not touched.
  const auto other_sid = call_sid_for(511);
  FlowStream other(serve.port, other_sid, connect(serve.port, other_sid), backend, 2);
  CHECK_FALSE(second.call.ws.wait_closed(200ms));
  CHECK(metric(serve.port, "callproxy_streams_replaced_total") == 1);
}

TEST_CASE("a drain with --after-stream reconnect hands its calls at once to an instance sharing the store",
          "[call-control][drain]") {
  test::BackendServer backend;
  const auto db = test::temp_path("handover.db");
  const std::vector<std::string> shared{"--pins-file",
                                        pins_for({backend.host_port()}),
                                        "--store",
                                        "sqlite:" + db,
                                        "--after-stream",
                                        "reconnect",
                                        "--drain-timeout",
                                        "60",
                                        "--drain-handover",
                                        "--stream-token-secret",
                                        test::secrets::stream_token_secret};
  auto leaving = test::start_serve(shared);
  auto staying = test::start_serve(shared);
  const auto sid = call_sid_for(512);
  const auto root = connect(leaving.port, sid);
  test::secrets::remember(parameters_of(root.child("Connect").child("Stream")).at("streamToken"));
  FlowStream stream(leaving.port, sid, root, backend);

  leaving.process->signal(SIGTERM);
  // Closed at once, not at the end of the 60 s drain.
  REQUIRE(stream.call.ws.wait_closed(10s));
  // The balancer may send Twilio's next request to the leaving instance: it still answers (a new
  // stream, with a new token)...
  const auto again = after_stream(leaving.port, sid, root);
  REQUIRE(again.child_names() == Names{"Connect", "Redirect"});
  test::secrets::remember(parameters_of(again.child("Connect").child("Stream")).at("streamToken"));
  // ... which it refuses itself (draining: 503, the balancer moves it on), so it streams on the
  // instance that stays.
  CHECK_THROWS_AS(test::WsClient(leaving.port, "/media"), test::HandshakeRefused);
  FlowStream resumed(staying.port, sid, again, backend, 1);
  resumed.call.ws.send_text(resumed.call.writer.media(std::vector<std::uint8_t>(160, 0x33)));
  REQUIRE(backend.wait_for_messages(2, 1));
  // And again, should that stream fail too: through the instance that stays. The handover did
  // not count as a failure: this is the call's first, at once, without a pause.
  CHECK(after_stream(staying.port, sid, again).child_names() == Names{"Connect", "Redirect"});
  CHECK(leaving.process->wait(20s) == 0);
  CHECK(leaving.process->err().find("drain: handing 1 live call over (--drain-handover)") != std::string::npos);
}

TEST_CASE("without --drain-handover a drain leaves live calls their --drain-timeout, whatever --after-stream says",
          "[call-control][drain]") {
  test::BackendServer backend;
  auto serve = test::start_serve(
      {"--pins-file", pins_for({backend.host_port()}), "--after-stream", "reconnect", "--drain-timeout", "60"});
  const auto sid = call_sid_for(513);
  FlowStream stream(serve.port, sid, connect(serve.port, sid), backend);
  serve.process->signal(SIGTERM);
  REQUIRE(test::eventually([&] { return test::http_request(serve.port, "GET", "/readyz").status == 503; }));
  // The call streams on while the instance drains.
  stream.call.ws.send_text(stream.call.writer.media(std::vector<std::uint8_t>(160, 0x44)));
  REQUIRE(backend.wait_for_messages(2));
  CHECK_FALSE(stream.call.ws.wait_closed(0ms));
  stream.call.ws.send_text(stream.call.writer.stop());
  stream.call.ws.close();  // the caller hangs up: the call ends, and with it the drain
  CHECK(serve.process->wait(20s) == 0);

  // --drain-handover without reconnect would close streams nobody reconnects: refused at start.
  const auto refused = test::run_command(
      test::callproxy_args({"serve", "--port", "0", "--store", "memory", "--drain-handover"}));
  CHECK(refused.exit_code != 0);
  CHECK(refused.err.find("--drain-handover needs --after-stream reconnect") != std::string::npos);
}
