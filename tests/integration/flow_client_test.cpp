// client-test --flow through the real binary: a whole call against a hand-written TwiML server
// that checks Twilio's signature and fields, and against serve's own call flow (/twiml/voice).
// The engine's units: tests/testclient/call_flow_test.cpp.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>

#include "support/child_process.h"
#include "support/flow_steps.h"
#include "support/http_client.h"
#include "support/http_server.h"
#include "support/local_speaker.h"
#include "support/media_call.h"
#include "support/test_secrets.h"
#include "support/ws_peer.h"
#include "test_data.h"
#include "twilio/percent_encoding.h"
#include "twilio/signature.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const auto& steps_of = test::flow_steps;
const auto& named = test::steps_named;

std::string twiml(const std::string& verbs) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>" + verbs + "</Response>";
}

// A request as the test server received it.
struct Received {
  std::string method, target, signature;
  twilio::RequestParams form;
};

Received parse_request(const std::string& raw) {
  Received r;
  std::istringstream head(raw.substr(0, raw.find("\r\n\r\n")));
  std::string line;
  std::getline(head, line);
  std::istringstream first(line);
  first >> r.method >> r.target;
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "x-twilio-signature") r.signature = line.substr(colon + 2);
  }
  r.form = twilio::parse_form(raw.substr(raw.find("\r\n\r\n") + 4));
  return r;
}

const std::string call_sid = "CA0123456789abcdef0123456789abcd01";

// serve with its TwiML call flow: signatures checked, PIN 2468 streams to `backend`, the public URL
// its own (plain HTTP, so <Stream> URLs are ws://).
struct FlowServe {
  // `tls_dir`: serve speaks https:// and wss:// with that directory's certificate for localhost.
  explicit FlowServe(const test::BackendServer& backend, std::vector<std::string> extra = {},
                     const std::string& tls_dir = {})
      : FlowServe(backend.host_port(), std::move(extra), tls_dir) {}
  // The PIN's backend at `backend` (host:port).
  explicit FlowServe(const std::string& backend, std::vector<std::string> extra = {}, const std::string& tls_dir = {}) {
    const auto pins = test::temp_path("flow-pins.json");
    std::ofstream(pins) << R"([{"pin": "2468", "backendIds": [7], "backendHosts": [")" << backend << R"("]}])";
    port = test::free_port();
    base = (tls_dir.empty() ? "http://127.0.0.1:" : "https://localhost:") + std::to_string(port);
    if (!tls_dir.empty())
      extra.insert(extra.end(), {"--tls-cert", tls_dir + "/cert.pem", "--tls-key", tls_dir + "/key.pem"});
    std::vector<std::string> args{"serve",
                                  "--bind",
                                  "127.0.0.1",
                                  "--port",
                                  std::to_string(port),
                                  "--threads",
                                  "1",
                                  "--store",
                                  "memory",
                                  "--validate-signatures",
                                  "--public-url",
                                  base,
                                  "--pins-file",
                                  pins,
                                  "--api-key",
                                  test::secrets::api_key,
                                  "--debug-routes"};
    args.insert(args.end(), extra.begin(), extra.end());
    process = std::make_unique<test::ChildProcess>(test::callproxy_args(args),
                                                   test::EnvChanges{{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}});
    process->wait_for_stderr("listening on 127.0.0.1:");
  }
  std::vector<std::string> flow(std::vector<std::string> extra) const {
    std::vector<std::string> args{"client-test",    "--flow",     base + "/twiml/voice",
                                  "--skip-prompts", "--call-sid", call_sid};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::callproxy_args(args);
  }
  unsigned short port = 0;
  std::string base;
  std::unique_ptr<test::ChildProcess> process;
};

const test::EnvChanges token{{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}};

}  // namespace

TEST_CASE("client-test --flow posts Twilio's signed form fields, gathers, and streams until the caller hangs up",
          "[flow][client-test]") {
  test::BackendServer media;  // stands for the media server: the <Stream> goes straight to it
  std::mutex mutex;
  std::vector<Received> received;
  std::atomic<int> bad_signatures{0};
  const std::string auth = "flow-test-token";
  test::CannedHttpServer server([&](const std::string& raw) -> test::CannedAnswer {
    auto r = parse_request(raw);
    const auto url = "http://127.0.0.1:" + std::to_string(server.port()) + r.target;
    if (r.signature != twilio::compute_signature(auth, url, r.form)) {
      ++bad_signatures;
      return {403, "bad signature", "text/plain"};
    }
    {
      std::lock_guard lock(mutex);
      received.push_back(r);
    }
    if (r.target == "/calls/voice")
      return {200,
              twiml("<Gather numDigits=\"4\" action=\"pin?try=1\"><Say>PIN please</Say></Gather><Say>No PIN</Say>"
                    "<Hangup/>"),
              "text/xml"};
    if (r.target == "/calls/pin?try=1")
      return {200,
              twiml("<Say>Connecting</Say><Connect><Stream url=\"ws://" + media.host_port() +
                    "/media\"><Parameter name=\"who\" value=\"flow test\"/></Stream></Connect><Say>After</Say>"),
              "text/xml"};
    return {404, "", "text/plain"};
  });

  const auto run = test::run_command(
      test::callproxy_args({"client-test", "--flow", server.base_url() + "/calls/voice", "--auth-token", auth,
                            "--digits", "12345#", "--skip-prompts", "--duration", "0.4", "--call-sid", call_sid,
                            "--from", "+15551230001", "--to", "+15559870002"}));
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  CHECK(bad_signatures == 0);
  const auto steps = steps_of(run.out);
  REQUIRE(!steps.empty());
  CHECK(steps.back().at("outcome") == "caller_hangup");
  CHECK(named(steps, "gather").at(0).at("digits") == "1234");
  const auto stream = named(steps, "stream").at(0);
  CHECK(stream.at("frames_sent") == 20);
  CHECK(stream.at("ended_by") == "caller");
  CHECK(named(steps, "caller_hangup").size() == 1);
  CHECK(named(steps, "say").size() == 2);  // PIN please, Connecting; never After

  std::lock_guard lock(mutex);
  REQUIRE(received.size() == 2);
  const twilio::RequestParams call_fields{{"AccountSid", received[0].form.at(0).second},
                                          {"ApiVersion", "2010-04-01"},
                                          {"CallSid", call_sid},
                                          {"CallStatus", "ringing"},
                                          {"Called", "+15559870002"},
                                          {"Caller", "+15551230001"},
                                          {"Direction", "inbound"},
                                          {"From", "+15551230001"},
                                          {"To", "+15559870002"}};
  CHECK(received[0].method == "POST");
  CHECK(received[0].form == call_fields);
  CHECK(received[0].form.at(0).second.rfind("AC", 0) == 0);
  auto with_digits = call_fields;
  with_digits.at(3).second = "in-progress";  // ringing on the voice URL only
  with_digits.emplace_back("Digits", "1234");
  with_digits.emplace_back("FinishedOnKey", "");
  CHECK(received[1].form == with_digits);

  // The stream's start carries the flow's CallSid and the <Parameter>s.
  REQUIRE(media.wait_for_messages(2));
  const auto start = json::parse(media.messages()[1]);
  CHECK(start.at("event") == "start");
  CHECK(start.at("start").at("callSid") == call_sid);
  CHECK(start.at("start").at("customParameters") == json{{"who", "flow test"}});
  CHECK(json::parse(media.messages().back()).at("event") == "stop");
}

TEST_CASE("client-test --flow: malformed TwiML and an HTTP 500 are clear errors, exit 1", "[flow][client-test]") {
  {
    test::CannedHttpServer server(200, "<Response><Say>unclosed</Response>");
    const auto url = server.base_url() + "/voice";
    const auto run = test::run_command(test::callproxy_args({"client-test", "--flow", url, "--skip-prompts"}));
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("POST " + url + " (HTTP 200) did not answer TwiML") != std::string::npos);
    CHECK(run.err.find("offset") != std::string::npos);
    CHECK(steps_of(run.out).back().at("outcome") == "error");
  }
  {
    test::CannedHttpServer server(500, "{}");
    const auto url = server.base_url() + "/voice";
    const auto run = test::run_command(test::callproxy_args({"client-test", "--flow", url}));
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("POST " + url + " answered HTTP 500") != std::string::npos);
    const auto steps = steps_of(run.out);
    CHECK(named(steps, "fetch").at(0).at("status") == 500);
    CHECK(steps.back().at("error") == "POST " + url + " answered HTTP 500");
  }
  {
    const auto url = "http://127.0.0.1:" + std::to_string(test::free_port()) + "/voice";
    const auto run = test::run_command(test::callproxy_args({"client-test", "--flow", url}));
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("cannot connect") != std::string::npos);
  }
  // Usage errors exit 2.
  CHECK(test::run_command(test::callproxy_args({"client-test", "--flow", "ftp://x/voice"})).exit_code == 2);
  CHECK(test::run_command(test::callproxy_args({"client-test", "--flow", "http://127.0.0.1:1/v", "--calls", "2"}))
            .exit_code == 2);
  CHECK(test::run_command(test::callproxy_args({"client-test", "--flow", "http://127.0.0.1:1/v", "--digits", "12a"}))
            .exit_code == 2);
}

TEST_CASE("client-test --flow through serve's call flow: the right PIN streams to the backend until the caller "
          "hangs up",
          "[flow][client-test][twiml]") {
  test::BackendServer backend;
  FlowServe serve(backend);
  const auto run = test::run_command(serve.flow({"--digits", "2468", "--duration", "0.6", "--from", "+15551110001"}),
                                     token);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  const auto steps = steps_of(run.out);
  REQUIRE(!steps.empty());
  CHECK(steps.back().at("outcome") == "caller_hangup");
  CHECK(named(steps, "fetch").size() == 2);
  const auto stream = named(steps, "stream").at(0);
  CHECK(stream.at("url") == "ws://127.0.0.1:" + std::to_string(serve.port) + "/media");
  CHECK(stream.at("frames_sent") == 30);
  CHECK(stream.at("ended_by") == "caller");
  // The backend got the call's audio under the flow's CallSid.
  REQUIRE(backend.wait_for_messages(2));
  const auto messages = backend.messages();
  CHECK(messages.front().find(call_sid) != std::string::npos);
  std::size_t media = 0;
  for (const auto& m : messages)
    if (json::parse(m).value("event", "") == "media") ++media;
  CHECK(media > 0);
}

TEST_CASE("client-test --flow through serve's call flow: blocked, withheld and thrice-wrong callers hear goodbye",
          "[flow][client-test][twiml]") {
  test::BackendServer backend;
  FlowServe serve(backend);
  REQUIRE(test::http_request(serve.port, "POST", "/blocked-callers/+15552220002", {{"apiKey", test::secrets::api_key}})
              .status == 201);
  for (const auto* from : {"+15552220002", "anonymous"}) {
    INFO(from);
    const auto run = test::run_command(serve.flow({"--from", from, "--digits", "2468"}), token);
    INFO(run.out << run.err);
    CHECK(run.exit_code == 0);
    const auto steps = steps_of(run.out);
    CHECK(steps.back().at("outcome") == "hangup");
    CHECK(named(steps, "gather").empty());
    CHECK(named(steps, "say").at(0).at("text") == "Goodbye.");
  }
  const auto run = test::run_command(
      serve.flow({"--from", "+15552220003", "--digits", "0000,1111", "--digits", "2222"}), token);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  const auto steps = steps_of(run.out);
  CHECK(steps.back().at("outcome") == "hangup");
  CHECK(named(steps, "gather").size() == 3);
  CHECK(named(steps, "fetch").size() == 4);
  CHECK(named(steps, "stream").empty());
  CHECK(backend.connections() == 0);
}

TEST_CASE("client-test --flow through serve: a stream the server closes goes on after </Connect>",
          "[flow][client-test][twiml]") {
  test::BackendServer backend;
  FlowServe serve(backend, {"--no-backend-reconnect"});  // a dropped backend is gone at once
  test::ChildProcess client(serve.flow({"--digits", "2468", "--duration", "20"}), token);
  REQUIRE(backend.wait_for_messages(3));
  backend.shut_down();  // serve has no backend left: it closes the caller's stream
  REQUIRE(client.wait(10s) == 0);
  const auto steps = steps_of(client.out());
  INFO(client.out() << client.err());
  const auto stream = named(steps, "stream").at(0);
  CHECK(stream.at("ended_by") == "server");
  CHECK(stream.at("close_code").get<int>() != 0);
  CHECK(stream.at("frames_sent").get<int>() < 1000);
  // The flow goes on after </Connect>: to serve's after-stream step, which (no decision,
  // --after-stream goodbye) says goodbye and hangs up.
  const auto redirect = named(steps, "redirect").at(0);
  CHECK(redirect.at("url").get<std::string>().find("/twiml/after-stream") != std::string::npos);
  CHECK(named(steps, "say").back().at("text") == "Goodbye.");
  CHECK(steps.back().at("outcome") == "hangup");
}

TEST_CASE("client-test --flow: a stream that drops goes on after </Connect>, and a reconnect resumes the audio on "
          "the call's clock",
          "[flow][client-test]") {
  test::BackendServer media;
  test::CannedHttpServer server([&](const std::string& raw) -> test::CannedAnswer {
    const auto r = parse_request(raw);
    const auto stream = "<Connect><Stream url=\"ws://" + media.host_port() + "/media\"/></Connect>";
    if (r.target == "/voice") return {200, twiml(stream + "<Redirect>again</Redirect>"), "text/xml"};
    if (r.target == "/again") return {200, twiml("<Pause length=\"1\"/>" + stream), "text/xml"};
    return {404, "", "text/plain"};
  });
  test::ChildProcess client(test::callproxy_args(
      {"client-test", "--flow", server.base_url() + "/voice", "--duration", "2.4", "--dtmf", "5@0.1"}));
  REQUIRE(media.wait_for_messages(12));  // connected, start, the key and some frames
  media.kill(0);
  REQUIRE(client.wait(15s) == 0);
  INFO(client.out() << client.err());
  const auto steps = steps_of(client.out());
  const auto streams = named(steps, "stream");
  REQUIRE(streams.size() == 2);
  CHECK(streams[0].at("ended_by") == "connection");
  CHECK(streams[1].at("ended_by") == "caller");
  CHECK(streams[0].at("stream_sid") != streams[1].at("stream_sid"));
  const auto first_sent = streams[0].at("frames_sent").get<std::uint64_t>();
  const auto resumed_at = streams[1].at("first_frame").get<std::uint64_t>();
  // The second stream began after the drop plus the 1 s pause (50 frames): the gap is lost audio.
  CHECK(resumed_at >= first_sent + 45);
  CHECK(resumed_at + streams[1].at("frames_sent").get<std::uint64_t>() == 120);  // the recording once
  CHECK(steps.back().at("outcome") == "caller_hangup");
  REQUIRE(media.wait_for_connections(2));
  CHECK(json::parse(media.messages(1).at(1)).at("start").at("callSid") ==
        json::parse(media.messages(0).at(1)).at("start").at("callSid"));
  // The key typed at 0.1 s went out on the first stream only: the reconnect began after it.
  const auto keys = [&](std::size_t connection) {
    std::size_t n = 0;
    for (const auto& m : media.messages(connection))
      if (json::parse(m).value("event", "") == "dtmf") ++n;
    return n;
  };
  CHECK(keys(0) == 1);
  CHECK(keys(1) == 0);
}

TEST_CASE("client-test --flow: a Start Stream fork runs beside the TwiML and its recording's end ends a long Pause",
          "[flow][client-test]") {
  test::BackendServer media;
  test::CannedHttpServer server([&](const std::string&) -> test::CannedAnswer {
    return {200,
            twiml("<Start><Stream url=\"ws://" + media.host_port() +
                  "/media\"/></Start><Pause length=\"600\"/>"
                  "<Say>never</Say>"),
            "text/xml"};
  });
  const auto run = test::run_command(
      test::callproxy_args({"client-test", "--flow", server.base_url() + "/voice", "--duration", "0.4"}), {}, {}, 20s);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  const auto steps = steps_of(run.out);
  CHECK(named(steps, "start_stream").size() == 1);
  CHECK(named(steps, "pause").at(0).at("ms").get<int>() < 10'000);
  CHECK(named(steps, "say").empty());
  const auto stream = named(steps, "stream").at(0);
  CHECK(stream.at("fork") == true);
  CHECK(stream.at("frames_sent") == 20);
  CHECK(steps.back().at("outcome") == "caller_hangup");
}

TEST_CASE("client-test --flow: a webhook that does not answer in time is an error naming the URL",
          "[flow][client-test]") {
  test::CannedHttpServer server(200, twiml("<Hangup/>"), 3s);
  const auto url = server.base_url() + "/slow";
  const auto run = test::run_command(
      test::callproxy_args({"client-test", "--flow", url, "--webhook-timeout", "300ms"}));
  CHECK(run.exit_code == 1);
  CHECK(run.err.find("POST " + url + ": no answer within 300 ms") != std::string::npos);
  const auto fetch = named(steps_of(run.out), "fetch").at(0);
  CHECK(fetch.at("status") == 0);
  CHECK(fetch.at("ms").get<int>() < 2000);
}

TEST_CASE("client-test --flow over https:// and wss://: serve's flow with TLS, the test CA trusted with --ca-file",
          "[flow][client-test][twiml][tls]") {
  const auto dir = test::make_test_certificate("flow");
  test::BackendServer backend;
  FlowServe serve(backend, {}, dir);
  const auto run = test::run_command(
      serve.flow({"--digits", "2468", "--duration", "0.4", "--ca-file", dir + "/cert.pem"}), token);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  const auto steps = steps_of(run.out);
  CHECK(steps.back().at("outcome") == "caller_hangup");
  const auto stream = named(steps, "stream").at(0);
  CHECK(stream.at("url") == "wss://localhost:" + std::to_string(serve.port) + "/media");
  CHECK(stream.at("frames_sent") == 20);
  REQUIRE(backend.wait_for_messages(2));
  CHECK(backend.messages().front().find(call_sid) != std::string::npos);
}

// The whole call with a bot that steers it: the bot is local-speaker sending a control message
// (--send), the caller is client-test --flow; nothing is driven by hand in between.
TEST_CASE("a whole call through --flow: PIN, stream, the bot hangs up, the caller hears its words and <Hangup/>",
          "[flow][client-test][call-control]") {
  auto bot = test::start_speaker({"--output", "null", "--send", R"({"event":"hangup","say":"It works."}@1)"});
  FlowServe serve(bot.host_port());
  const auto run = test::run_command(serve.flow({"--digits", "2468", "--duration", "10"}), token);
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);
  const auto steps = steps_of(run.out);
  const auto stream = named(steps, "stream").at(0);
  CHECK(stream.at("ended_by") == "server");
  CHECK(stream.at("close_code") == 1000);
  CHECK(stream.at("frames_sent").get<int>() < 250);  // about 1 s of the 10
  CHECK(named(steps, "say").back().at("text") == "It works.");
  CHECK(steps.back().at("outcome") == "hangup");
  CHECK(test::metric(serve.port, "callproxy_call_decisions_total{decision=\"hangup\"}") == 1);
  test::stop(bot);
}

TEST_CASE("a whole call through --flow: the bot transfers to an allowed number (dialled) or another (refused, the "
          "call goes on)",
          "[flow][client-test][call-control]") {
  {
    auto bot = test::start_speaker({"--output", "null", "--send", R"({"event":"transfer","to":"+15554440123"}@1)"});
    FlowServe serve(bot.host_port(), {"--transfer-allow", "+1555444*"});
    const auto run = test::run_command(serve.flow({"--digits", "2468", "--duration", "10"}), token);
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    const auto steps = steps_of(run.out);
    const auto dial = named(steps, "dial").at(0);
    CHECK(dial.at("to") == "+15554440123");
    CHECK(dial.at("kind") == "number");
    CHECK(steps.back().at("outcome") == "completed");  // nothing after the <Dial>
    test::stop(bot);
  }
  {
    auto bot = test::start_speaker({"--output", "null", "--send", R"({"event":"transfer","to":"+19005550100"}@0.5)"});
    FlowServe serve(bot.host_port(), {"--transfer-allow", "+1555444*"});
    const auto run = test::run_command(serve.flow({"--digits", "2468", "--duration", "2"}), token);
    INFO(run.out << run.err);
    REQUIRE(run.exit_code == 0);
    const auto steps = steps_of(run.out);
    CHECK(named(steps, "dial").empty());
    CHECK(named(steps, "stream").at(0).at("ended_by") == "caller");  // streamed to its end
    CHECK(steps.back().at("outcome") == "caller_hangup");
    CHECK(test::metric(serve.port, "callproxy_call_decisions_refused_total{reason=\"not_allowed\"}") == 1);
    test::stop(bot);
  }
}

TEST_CASE("client-test --flow through serve --stream-mode fork: the hold loop's pauses are waited with "
          "--skip-prompts, and the call ends when the recording does",
          "[flow][client-test][twiml]") {
  test::BackendServer backend;
  FlowServe serve(backend, {"--stream-mode", "fork"});
  // 12 s of audio: two 5 s holds, each followed by a poll (the fork still runs), then the
  // recording ends during the third hold. The polls are not counted against --max-documents.
  const auto run = test::run_command(serve.flow({"--digits", "2468", "--duration", "12", "--max-documents", "3"}),
                                     token, {}, 40s);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  const auto steps = steps_of(run.out);
  REQUIRE(!steps.empty());
  CHECK(steps.back().at("outcome") == "caller_hangup");
  CHECK(named(steps, "start_stream").size() == 1);
  const auto fetches = named(steps, "fetch");
  REQUIRE(fetches.size() >= 4);  // the voice URL, the PIN, two polls
  CHECK(fetches.size() <= 5);
  CHECK(fetches[2].at("url").get<std::string>().find("/twiml/after-stream") != std::string::npos);
  const auto pauses = named(steps, "pause");
  REQUIRE(pauses.size() >= 3);
  CHECK(pauses[0].at("ms").get<int>() >= 4'500);
  CHECK(pauses[1].at("ms").get<int>() >= 4'500);
  const auto stream = named(steps, "stream").at(0);
  CHECK(stream.at("fork") == true);
  CHECK(stream.at("ended_by") == "caller");
  CHECK(stream.at("frames_sent").get<int>() > 300);
  REQUIRE(backend.wait_for_messages(3));
  CHECK(backend.messages().front().find(call_sid) != std::string::npos);
}

TEST_CASE("client-test --flow: a Connect Stream that never comes up goes on as Twilio would, but exits 1",
          "[flow][client-test]") {
  const auto closed_port = test::free_port();  // nothing listens there
  test::CannedHttpServer server([&](const std::string& raw) -> test::CannedAnswer {
    if (parse_request(raw).target == "/voice") {
      return {200,
              twiml("<Connect><Stream url=\"ws://127.0.0.1:" + std::to_string(closed_port) +
                    "/media\"/></Connect><Hangup/>"),
              "text/xml"};
    }
    return {404, "", "text/plain"};
  });
  const auto run = test::run_command(
      test::callproxy_args({"client-test", "--flow", server.base_url() + "/voice", "--duration", "0.4"}), {}, {}, 20s);
  INFO(run.out << run.err);
  CHECK(run.exit_code == 1);
  const auto steps = steps_of(run.out);
  REQUIRE(!steps.empty());
  const auto stream = named(steps, "stream").at(0);
  CHECK(stream.at("ended_by") == "connection");
  CHECK(stream.contains("error"));
  CHECK(steps.back().at("outcome") == "hangup");
  CHECK(steps.back().at("stream_errors") == 1);
  CHECK(run.err.find("never came up") != std::string::npos);
}

TEST_CASE("client-test --flow with an empty URL is a usage error", "[flow][client-test]") {
  const auto run = test::run_command(test::callproxy_args({"client-test", "--flow", ""}));
  INFO(run.out << run.err);
  CHECK(run.exit_code == 2);
  CHECK(run.err.find("--flow") != std::string::npos);
}
