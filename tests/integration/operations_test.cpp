// Running serve as the Node service ran: every setting from the environment, an X-Request-Id on
// every response, one access line per request in both log formats, unexpected errors answered
// and logged once with their context.
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cctype>
#include <regex>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "proxy/http/router.h"
#include "support/child_process.h"
#include "support/http_client.h"
#include "support/media_call.h"
#include "support/test_secrets.h"
#include "support/ws_peer.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The Node service's names, kept; every other flag is CALLPROXY_<FLAG NAME>.
const std::map<std::string, std::string> node_names{
    {"--port", "AUDIO_PROXY_PORT"},
    {"--validate-signatures", "VALIDATE_EXTERNAL_CALLS"},
    {"--auth-token", "TWILIO_AUTH_TOKEN"},
    {"--pin-api", "SERVER_API_HOST"},
    {"--pin-api-timeout-ms", "SERVER_API_TIMEOUT_MS"},
    {"--api-key", "SERVER_API_KEY"},
    {"--debug-routes", "ENABLE_DEBUG_ROUTES"},
    {"--attempts-allowed", "INVALID_AUTH_ATTEMPTS_ALLOWED"},
    {"--attempts-ttl", "INVALID_AUTH_ATTEMPTS_CACHE_TTL_SECONDS"},
    {"--redis-password", "REDIS_PASSWORD"},
};

std::string callproxy_name(const std::string& flag) {
  std::string out = "CALLPROXY_";
  for (const char c : flag.substr(2)) out += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return out;
}

bool is_hex32(const std::string& s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(c) && !std::isupper(c); });
}

}  // namespace

TEST_CASE("every serve flag has an environment variable, the Node service's name where it had one", "[cli][env]") {
  CLI::App app;
  cli::setup_serve(app);
  const auto* serve = app.get_subcommand("serve");
  std::set<std::string> seen;
  std::size_t flags = 0;
  for (const auto* option : serve->get_options()) {
    const auto name = option->get_name();
    if (!option->get_configurable()) continue;  // actions (--help, --print-config), not settings
    ++flags;
    INFO(name);
    const auto env = option->get_envname();
    CHECK_FALSE(env.empty());
    CHECK(seen.insert(env).second);  // one variable, one flag
    const auto node = node_names.find(name);
    CHECK(env == (node != node_names.end() ? node->second : callproxy_name(name)));
  }
  CHECK(flags >= 35);  // the walk saw the flags (not an empty list)
}

TEST_CASE("serve runs from the environment alone, and a bad value there exits 2 naming its flag", "[cli][env]") {
  test::BackendServer first, second;
  test::ChildProcess serve(test::callproxy_args({"serve"}),
                           {{"CALLPROXY_BIND", "127.0.0.1"},
                            {"AUDIO_PROXY_PORT", "0"},
                            {"CALLPROXY_STORE", "memory"},
                            {"CALLPROXY_PINS_FILE", std::string(CALLPROXY_ASSETS) + "/demo-pins.json"},
                            {"CALLPROXY_MAX_BODY_BYTES", "100"},
                            {"CALLPROXY_BACKEND_RECONNECT", "false"},
                            {"CALLPROXY_BACKEND", first.host_port() + "," + second.host_port()}});
  const auto line = serve.wait_for_stderr("listening on 127.0.0.1:");
  const auto port = static_cast<unsigned short>(std::stoi(line.substr(line.find("127.0.0.1:") + 10)));
  CHECK(serve.err().find("PINs: 2 entries") != std::string::npos);
  CHECK(serve.err().find("state store: memory") != std::string::npos);
  const auto big = test::http_request(port, "POST", "/validate-pin", {}, std::string(200, 'x'));
  CHECK(big.status == 413);
  CHECK(big.body.find("exceeds 100 bytes") != std::string::npos);
  // A call naming no backend goes to both defaults of the comma-separated list.
  test::WsClient call(port, "/media");
  call.send_text(R"({"event":"start","sequenceNumber":"1","start":{"streamSid":"MZ1","callSid":"CA1",)"
                 R"("tracks":["inbound"],"customParameters":{}}})");
  CHECK(first.wait_for_messages(1));
  CHECK(second.wait_for_messages(1));

  const auto bad = test::run_command(test::callproxy_args({"serve", "--port", "0", "--store", "memory"}),
                                     {{"CALLPROXY_MAX_BODY_BYTES", "banana"}});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--max-body-bytes") != std::string::npos);
  const auto bad_keys = test::run_command(test::callproxy_args({"serve", "--port", "0", "--store", "memory"}),
                                          {{"CALLPROXY_REDIS_KEYS", "hashes"}});
  CHECK(bad_keys.exit_code == 2);
  CHECK(bad_keys.err.find("--redis-keys") != std::string::npos);
}

TEST_CASE("every response carries an X-Request-Id: the client's when sane, else a new one", "[serve][ops]") {
  auto serve = test::start_serve({"--max-body-bytes", "64"});
  const auto echoed = test::http_request(serve.port, "GET", "/healthz", {{"X-Request-Id", "abc-123_x.y:z+/="}});
  CHECK(echoed.headers.at("x-request-id") == "abc-123_x.y:z+/=");

  const auto a = test::http_request(serve.port, "GET", "/");
  const auto b = test::http_request(serve.port, "GET", "/");
  CHECK(is_hex32(a.headers.at("x-request-id")));
  CHECK(is_hex32(b.headers.at("x-request-id")));
  CHECK(a.headers.at("x-request-id") != b.headers.at("x-request-id"));

  // Not sane: too long, or characters a log line should not carry: replaced, not echoed.
  for (const auto& incoming :
       {std::string(129, 'a'), std::string("has space"), std::string("quote\"d"), std::string("semi;colon")}) {
    INFO(incoming);
    const auto replaced = test::http_request(serve.port, "GET", "/healthz", {{"X-Request-Id", incoming}});
    CHECK(is_hex32(replaced.headers.at("x-request-id")));
  }
  CHECK(test::http_request(serve.port, "GET", "/", {{"X-Request-Id", std::string(128, 'a')}})
            .headers.at("x-request-id") == std::string(128, 'a'));

  // The WebSocket upgrade's 101 too (the call session writes it).
  test::WsClient with_id(serve.port, "/media", {{"X-Request-Id", "call-77"}});
  CHECK(with_id.response_header("X-Request-Id") == "call-77");
  test::WsClient without(serve.port, "/media");
  CHECK(is_hex32(without.response_header("X-Request-Id")));
  test::WsClient insane(serve.port, "/media", {{"X-Request-Id", "has space"}});
  CHECK(is_hex32(insane.response_header("X-Request-Id")));

  // Errors too: unknown route, wrong method, body too big, malformed request, /media without upgrade.
  CHECK(is_hex32(test::http_request(serve.port, "GET", "/nowhere").headers.at("x-request-id")));
  CHECK(is_hex32(test::http_request(serve.port, "DELETE", "/healthz").headers.at("x-request-id")));
  const auto too_big = test::http_request(serve.port, "POST", "/validate-pin", {{"X-Request-Id", "big-1"}},
                                          std::string(100, 'x'));
  CHECK(too_big.status == 413);
  CHECK(too_big.headers.at("x-request-id") == "big-1");
  const auto garbage = test::parse_reply(test::raw_exchange(serve.port, "NOT HTTP\r\n\r\n"));
  CHECK(garbage.status == 400);
  CHECK(is_hex32(garbage.headers.at("x-request-id")));
  const auto not_ws = test::http_request(serve.port, "GET", "/media", {{"X-Request-Id", "ws-1"}});
  CHECK(not_ws.status == 426);
  CHECK(not_ws.headers.at("x-request-id") == "ws-1");
}

TEST_CASE("each request gets one access line in text logs, without the query string", "[serve][ops]") {
  auto serve = test::start_serve();
  const auto reply = test::http_request(serve.port, "GET", "/no/such/route?token=s3cret-value",
                                        {{"X-Request-Id", "req-42"}});
  CHECK(reply.status == 404);
  const auto line = serve.process->wait_for_stderr("request_id=req-42", 10s);
  CHECK(line.find("http: GET /no/such/route 404 ") != std::string::npos);
  CHECK(std::regex_search(line, std::regex(R"( 404 \d+\.\d{3} ms request_id=req-42 peer=127\.0\.0\.1:\d+)")));
  CHECK(serve.process->err().find("s3cret-value") == std::string::npos);
  // One line per request.
  test::http_request(serve.port, "GET", "/healthz", {{"X-Request-Id", "req-43"}});
  serve.process->wait_for_stderr("request_id=req-43", 10s);
  const auto err = serve.process->err();
  std::size_t count = 0;
  for (auto at = err.find("request_id=req-42"); at != std::string::npos; at = err.find("request_id=req-42", at + 1))
    ++count;
  CHECK(count == 1);
}

TEST_CASE("access lines in JSON logs carry their fields as JSON fields", "[serve][ops]") {
  auto serve = test::start_serve({"--log-format", "json"});
  const auto reply = test::http_request(serve.port, "GET", "/readyz?apiKey=" + test::secrets::api_key,
                                        {{"X-Request-Id", "req-j1"}});
  CHECK(reply.status == 200);
  const auto line = serve.process->wait_for_stderr(R"("requestId":"req-j1")", 10s);
  const auto record = json::parse(line);
  CHECK(record.at("msg") == "access");
  CHECK(record.at("level") == "info");
  CHECK(record.at("method") == "GET");
  CHECK(record.at("path") == "/readyz");
  CHECK(record.at("status") == 200);
  CHECK(record.at("durationMs").is_number());
  CHECK(record.at("durationMs").get<double>() >= 0);
  CHECK(record.at("peer").get<std::string>().rfind("127.0.0.1:", 0) == 0);
  CHECK(record.contains("time"));
  CHECK(serve.process->err().find(test::secrets::api_key) == std::string::npos);
  // Every line of the log is JSON, access lines and the rest alike, and only access lines say so.
  std::istringstream lines(serve.process->err());
  std::size_t others = 0;
  for (std::string l; std::getline(lines, l);) {
    INFO(l);
    const auto parsed = json::parse(l, nullptr, false);
    REQUIRE_FALSE(parsed.is_discarded());
    if (parsed.contains("requestId")) continue;
    ++others;
    CHECK(parsed.at("msg") != "access");
    CHECK_FALSE(parsed.contains("text"));
  }
  CHECK(others > 0);  // "listening on ..." at least
}

TEST_CASE("a handler that throws is answered 500 with the request id and logged once with its context",
          "[router][ops]") {
  proxy::Router router;
  router.add("GET", "/boom", [](const proxy::HttpRequest&, const proxy::RouteParams&, proxy::Respond) {
    throw std::runtime_error("a bug");
  });
  proxy::HttpRequest request;
  request.method = "GET";
  request.target = "/boom?x=1";
  request.request_id = "req-500";
  request.remote_address = "127.0.0.1";
  proxy::HttpResponse answer;
  int answers = 0;
  std::ostringstream log;
  const auto previous = spdlog::default_logger();
  auto capture = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  capture->set_pattern("%v");
  spdlog::set_default_logger(capture);
  router.dispatch(request, [&](proxy::HttpResponse r) {
    answer = std::move(r);
    ++answers;
  });
  spdlog::set_default_logger(previous);
  CHECK(answers == 1);
  CHECK(log.str() == "http: GET /boom (request req-500, peer 127.0.0.1) failed: a bug\n");
  CHECK(answer.status == 500);
  CHECK(json::parse(answer.body) == json{{"message", "internal error"}, {"requestId", "req-500"}});
}

TEST_CASE("request ids: sane ones kept, others replaced by 32 random hex digits", "[router][ops]") {
  CHECK(proxy::request_id_for("0f8fad5b-d9cb-469f-a165-70867728950e") == "0f8fad5b-d9cb-469f-a165-70867728950e");
  CHECK(proxy::request_id_for("Root=1-67891233-abcdef012345678912345678") ==
        "Root=1-67891233-abcdef012345678912345678");
  for (const auto* bad : {"", "a b", "a\nb", "<script>", "x;y", "\xc3\xa9"}) {
    INFO(bad);
    CHECK(is_hex32(proxy::request_id_for(bad)));
  }
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(proxy::request_id_for(""));
  CHECK(ids.size() == 1000);
}

TEST_CASE("client-test sends backendIds [1] and a new Studio-like execution id per call by default", "[client-test]") {
  test::BackendServer backend;
  auto serve = test::start_serve({"--max-backend-lag", "60"});
  const auto url = "ws://127.0.0.1:" + std::to_string(serve.port) + "/media";
  const auto hosts = json::array({backend.host_port()}).dump();
  const auto run = test::run_command(
      test::callproxy_args({"client-test", "--once", "--no-pace", "--json", "--url", url, "--backend-hosts", hosts}));
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);
  const auto summary = json::parse(run.out.substr(0, run.out.find('\n')));
  const std::string id = summary.at("executionId");
  CHECK(std::regex_match(id, std::regex("FN[0-9a-f]{32}")));
  REQUIRE(backend.wait_for_messages(1));
  const auto start = json::parse(backend.messages().at(0));
  CHECK(start.at("customParameters").at("executionId") == id);
  CHECK(start.at("customParameters").at("backendIds") == "[1]");
  CHECK(start.at("customParameters").at("backendHosts") == hosts);

  // Given ones are sent as given.
  const auto given = test::run_command(
      test::callproxy_args({"client-test", "--once", "--no-pace", "--json", "--url", url, "--backend-hosts", hosts,
                            "--execution-id", "FN1", "--backend-ids", "[7,8]"}));
  REQUIRE(given.exit_code == 0);
  CHECK(json::parse(given.out.substr(0, given.out.find('\n'))).at("executionId") == "FN1");
}

TEST_CASE("test support finds a test secret in a log and remembers the signatures tests send", "[support]") {
  const std::string log = "first line\nserve: --bind '" + test::secrets::api_key + "' is not an IP address\nlast\n";
  const auto leaks = test::secrets::leaked_in(log);
  REQUIRE(leaks.size() == 1);
  CHECK(leaks[0] ==
        "'" + test::secrets::api_key + "' in: serve: --bind '" + test::secrets::api_key + "' is not an IP address");
  CHECK(test::secrets::leaked_in("nothing secret here: 1234, tok, 127.0.0.1:58203").empty());
  // Signatures and keys sent in headers join the list; short values would match by chance.
  test::secrets::remember_headers({{"x-twilio-signature", "Zm9yZ2VkLXNpZ25hdHVyZS12YWx1ZT0="}, {"APIKEY", "short"}});
  CHECK(test::secrets::leaked_in("refused Zm9yZ2VkLXNpZ25hdHVyZS12YWx1ZT0= here").size() == 1);
  CHECK(test::secrets::leaked_in("key short").empty());
}

TEST_CASE("test support never hands out one loopback port twice in a test", "[support]") {
  // The kernel gives bind(0) a recently closed port again now and then; two of a test's ports
  // being one made nginx read its http listen as a second ssl one and refuse to start.
  std::set<unsigned short> ports;
  for (int i = 0; i < 2000; ++i) {
    const auto port = test::free_port();
    INFO("call " << i << ": port " << port);
    REQUIRE(ports.insert(port).second);
  }
}

using test::metric_in;

TEST_CASE("/metrics has the process_* series, build info and HTTP answers by status class", "[serve][ops][metrics]") {
  auto serve = test::start_serve();
  const auto before = test::http_request(serve.port, "GET", "/metrics").body;
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
  CHECK(test::http_request(serve.port, "GET", "/no-such-route").status == 404);
  const auto text = test::http_request(serve.port, "GET", "/metrics").body;

  // HTTP answers by class: the scrape before, /healthz (2xx) and the 404 since.
  CHECK(metric_in(text, R"(callproxy_http_responses_total{class="2xx"})") ==
        metric_in(before, R"(callproxy_http_responses_total{class="2xx"})") + 2);
  CHECK(metric_in(text, R"(callproxy_http_responses_total{class="4xx"})") ==
        metric_in(before, R"(callproxy_http_responses_total{class="4xx"})") + 1);

  const auto now = static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  CHECK(metric_in(text, "process_start_time_seconds") > now - 600);
  CHECK(metric_in(text, "process_start_time_seconds") <= now + 1);
  CHECK(metric_in(text, "process_cpu_seconds_total") >= 0);
  CHECK(metric_in(text, "process_resident_memory_bytes") > 1e6);
  CHECK(metric_in(text, "process_virtual_memory_bytes") > metric_in(text, "process_resident_memory_bytes"));
  CHECK(metric_in(text, "process_open_fds") >= 3);
  CHECK(metric_in(text, "process_max_fds") >= metric_in(text, "process_open_fds"));
  std::smatch build;
  REQUIRE(std::regex_search(
      text, build,
      std::regex(R"re(\ncallproxy_build_info\{version="([^"]+)",commit="([0-9a-f]{12}|unknown)"\} 1\n)re")));
  CHECK("callproxy " + build[1].str() + "\n" == test::run_command(test::callproxy_args({"--version"})).out);

  // promtool (Debian's prometheus package) reads the whole exposition without complaint.
  const std::string promtool = "/usr/bin/promtool";
  if (::access(promtool.c_str(), X_OK) != 0) {
    WARN("skipped the promtool check: no promtool (scripts/install-deps.sh test installs it)");
    return;
  }
  const auto lint = test::run_command({promtool, "check", "metrics"}, {}, text);
  INFO(lint.out << lint.err);
  CHECK(lint.exit_code == 0);
}
