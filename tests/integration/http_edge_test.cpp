// serve's HTTP edge against clients that misbehave or are many: malformed Host headers, HEAD,
// slow headers and bodies, handlers that do not answer, connection floods and a low descriptor
// limit; and the warnings serve gives at start about settings that leave it open.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <sstream>
#include <thread>

#include "proxy/http/connection_limits.h"
#include "support/child_process.h"
#include "support/http_client.h"
#include "support/http_server.h"
#include "support/test_secrets.h"
#include "support/wait.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

using test::eventually;

double metric(unsigned short port, const std::string& series) {
  const auto text = test::http_request(port, "GET", "/metrics").body;
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) FAIL("no series " << series << " in /metrics");
  return std::stod(text.substr(at + series.size() + 2));
}

// serve's stderr once it has said it listens: every start-up warning is written before that.
std::string start_up_log(std::vector<std::string> args, test::EnvChanges env = {}) {
  args.insert(args.begin(), {"serve", "--port", "0", "--store", "memory", "--threads", "1"});
  test::ChildProcess serve(test::callproxy_args(args), std::move(env));
  serve.wait_for_stderr("listening on");
  return serve.err();
}

// A chunk size as chunked encoding writes it: hexadecimal.
std::string hex_size(std::size_t n) {
  std::ostringstream out;
  out << std::hex << n;
  return out.str();
}

const std::vector<std::string> low_fd_limit{"/usr/bin/prlimit", "--nofile=128:128", "--"};

}  // namespace

TEST_CASE("a request without a Host header or with two is refused 400", "[serve][edge]") {
  auto serve = test::start_serve();
  const auto without = test::parse_reply(test::raw_exchange(serve.port, "GET /healthz HTTP/1.1\r\n\r\n"));
  CHECK(without.status == 400);
  CHECK(json::parse(without.body).at("message") == "malformed HTTP request: an HTTP/1.1 request needs a Host header");
  const auto twice = test::parse_reply(
      test::raw_exchange(serve.port, "GET /healthz HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"));
  CHECK(twice.status == 400);
  CHECK(json::parse(twice.body).at("message") == "malformed HTTP request: more than one Host header");
  const auto twice_old = test::parse_reply(
      test::raw_exchange(serve.port, "GET /healthz HTTP/1.0\r\nHost: a.example\r\nhost: b.example\r\n\r\n"));
  CHECK(twice_old.status == 400);
  // The /media upgrade, whose signed URL is built from the Host header, is refused the same way.
  const auto upgrade = test::parse_reply(test::raw_exchange(
      serve.port,
      "GET /media HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: Upgrade\r\n"
      "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  CHECK(upgrade.status == 400);
  // HTTP/1.0 did not have to send one; one Host is what every client sends.
  CHECK(test::parse_reply(test::raw_exchange(serve.port, "GET /healthz HTTP/1.0\r\n\r\n")).status == 200);
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
}

// RFC 9112 6.3: when a request's transfer codings do not end in chunked, its body's length
// cannot be known. Beast's parser took such a body as empty and read it as the next request, one
// that a proxy in front, framing the body otherwise, never saw (the shape of request smuggling).
TEST_CASE("a Transfer-Encoding other than chunked is answered once, 400 or 501, and the connection closed",
          "[serve][edge]") {
  auto serve = test::start_serve();
  const std::string smuggled = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
  struct Case {
    std::string fields;  // the request's Transfer-Encoding lines
    int status;
  };
  const std::vector<Case> cases{
      {"Transfer-Encoding: xchunked\r\n", 400},
      {"Transfer-Encoding: gzip\r\n", 400},
      {"Transfer-Encoding: identity\r\n", 400},
      {"Transfer-Encoding: chunked, identity\r\n", 400},
      {"Transfer-Encoding: chunked, chunked\r\n", 400},
      {"Transfer-Encoding: \r\n", 400},
      {"Transfer-Encoding: identity\r\nTransfer-Encoding: gzip\r\n", 400},
      // Framed by chunked, but serve decodes no other coding (RFC 9112 6.1), nor knows parameters.
      {"Transfer-Encoding: gzip, chunked\r\n", 501},
      {"Transfer-Encoding: chunked;x=1\r\n", 501},
      {"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 501},
  };
  for (const auto& c : cases) {
    INFO(c.fields);
    test::TcpConnection connection(serve.port);
    REQUIRE(connection.send("POST /validate-pin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + c.fields +
                            "\r\n" + smuggled));
    CHECK(connection.wait_closed(5s));
    const auto answers = connection.received();
    CHECK(test::count_of(answers, "HTTP/1.1 ") == 1);  // the smuggled request is not answered
    const auto reply = test::parse_reply(answers);
    CHECK(reply.status == c.status);
    CHECK(reply.headers.at("connection") == "close");
    CHECK(json::parse(reply.body).at("message").get<std::string>().find("Transfer-Encoding") != std::string::npos);
  }
  // HTTP/1.0 has no transfer codings (RFC 9112 6.1: the framing is faulty).
  const auto old = test::parse_reply(test::raw_exchange(
      serve.port, "POST /validate-pin HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled));
  CHECK(old.status == 400);
  CHECK(json::parse(old.body).at("message").get<std::string>().find("Transfer-Encoding") != std::string::npos);
  CHECK(serve.process->err().find("GET /readyz") == std::string::npos);  // no access line: never answered
}

TEST_CASE("a chunked request body is read whole and the connection goes on", "[serve][edge]") {
  auto serve = test::start_serve({"--pins-file", std::string(CALLPROXY_ASSETS) + "/demo-pins.json"});
  test::TcpConnection connection(serve.port);
  const std::string body = R"({"pin":"1234","callerId":"+15550001234"})";
  for (const std::string coding : {"chunked", "Chunked", " chunked "}) {
    INFO("Transfer-Encoding:" << coding);
    REQUIRE(connection.send("POST /validate-pin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Transfer-Encoding:" +
                            coding + "\r\n\r\n" + "5\r\n" + body.substr(0, 5) + "\r\n" + hex_size(body.size() - 5) +
                            "\r\n" + body.substr(5) + "\r\n0\r\n\r\n"));
    const auto reply = connection.read_reply();
    CHECK(reply.status == 200);
    CHECK(json::parse(reply.body).at("backendIds") == "[1]");  // the Node service's shape
  }
  REQUIRE(connection.send("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(connection.read_reply().body == R"({"status":"ready"})");
}

TEST_CASE("HEAD answers carry no body and 405 answers list HEAD wherever GET is allowed", "[serve][edge]") {
  auto serve = test::start_serve();
  // Two requests on one connection: were the HEAD answer to carry a body, the second answer
  // would not start right after the first one's head.
  test::TcpConnection connection(serve.port);
  connection.send("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto head = connection.read_reply(10s, /*head_request=*/true);
  CHECK(head.status == 200);
  CHECK(head.headers.at("content-length") == "18");  // that of the GET answer, {"status":"alive"}
  const auto ready = connection.read_reply();        // would not parse after a body the HEAD answer had sent
  CHECK(ready.body == R"({"status":"ready"})");

  const auto refused_head = test::parse_reply(
      test::raw_exchange(serve.port, "HEAD /validate-pin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  CHECK(refused_head.status == 405);
  CHECK(refused_head.headers.at("allow") == "POST");
  CHECK(refused_head.body.empty());
  for (const auto* path : {"/healthz", "/readyz", "/metrics", "/", "/executions/FN1/connected"}) {
    INFO(path);
    const auto wrong = test::http_request(serve.port, "DELETE", path);
    CHECK(wrong.status == 405);
    CHECK(wrong.headers.at("allow") == "GET, HEAD");
  }
  const auto mixed = test::http_request(serve.port, "PUT", "/blocked-callers/+1");
  CHECK(mixed.headers.at("allow") == "GET, HEAD, DELETE");
}

TEST_CASE("a header that does not arrive within --header-timeout closes the connection, an idle kept-alive one waits",
          "[serve][edge][timeouts]") {
  auto serve = test::start_serve({"--header-timeout", "0.5"});
  {
    test::TcpConnection silent(serve.port);  // connects and says nothing
    CHECK(silent.wait_closed(5s));
    CHECK(silent.received().empty());
  }
  {
    test::TcpConnection slow(serve.port);  // slowloris: a header that never ends
    REQUIRE(slow.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "));
    const auto started = std::chrono::steady_clock::now();
    // The sleep paces the stimulus (a byte every 100 ms, as a slowloris sends), it waits for no
    // result: the loop ends when serve closes, and wait_closed's deadline is the wait.
    for (int i = 0; i < 40 && slow.send("a"); ++i) std::this_thread::sleep_for(100ms);
    CHECK(slow.wait_closed(5s));
    CHECK(std::chrono::steady_clock::now() - started < 3s);
  }
  {
    // Between requests a kept-alive connection may wait longer than a header may take.
    test::TcpConnection kept(serve.port);
    REQUIRE(kept.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK(kept.read_reply().status == 200);
    // That nothing happens (no close) can only be seen by waiting: three header timeouts.
    CHECK_FALSE(kept.wait_closed(1500ms));
    REQUIRE(kept.send("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK(kept.read_reply().status == 200);
  }
}

TEST_CASE("a body that does not arrive within --request-timeout closes the connection", "[serve][edge][timeouts]") {
  auto serve = test::start_serve({"--request-timeout", "0.5"});
  test::TcpConnection slow(serve.port);
  REQUIRE(slow.send("POST /validate-pin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Content-Length: 100\r\n\r\n{\"pin\":"));
  const auto started = std::chrono::steady_clock::now();
  // Pacing the stimulus (a body trickling in), not a wait: wait_closed's deadline is the wait.
  for (int i = 0; i < 40 && slow.send(" "); ++i) std::this_thread::sleep_for(100ms);
  CHECK(slow.wait_closed(5s));
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
}

TEST_CASE("a handler that does not answer within --request-timeout is answered 503 and its late answer ignored",
          "[serve][edge][timeouts]") {
  // An identity API that takes its time, with a PIN API timeout far beyond the request's.
  test::CannedHttpServer api(200, R"({"authenticated":true,"backendIds":[7],"backendHosts":["127.0.0.1:9"]})", 1500ms);
  auto serve = test::start_serve(
      {"--pin-api", api.base_url(), "--pin-api-timeout-ms", "60000", "--request-timeout", "0.5"});
  test::TcpConnection connection(serve.port);
  const json body{{"pin", test::secrets::pin}, {"callerId", "+15550004444"}};
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(connection.send("POST /validate-pin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: " +
                          std::to_string(body.dump().size()) + "\r\n\r\n" + body.dump()));
  const auto reply = connection.read_reply(5s);
  CHECK(std::chrono::steady_clock::now() - started < 1400ms);  // before the API answered
  CHECK(reply.status == 503);
  CHECK(reply.headers.at("content-type").find("application/json") == 0);
  CHECK(json::parse(reply.body).at("message") == "the request was not answered within 500 ms: try again later");
  // The connection is closed after it; the API's late answer goes nowhere.
  CHECK(connection.wait_closed(5s));
  CHECK(connection.received().empty());
  CHECK(serve.process->wait_for_stderr("not answered within 500 ms").find("POST /validate-pin") != std::string::npos);
  CHECK(metric(serve.port, "callproxy_http_request_timeouts_total") == 1);
  REQUIRE(eventually([&] { return api.requests().size() == 1; }));
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
}

TEST_CASE("past --max-connections a request is answered 503, and /healthz still answers from the reserve",
          "[serve][edge][limits]") {
  auto serve = test::start_serve({"--max-connections", "3"});
  std::vector<std::unique_ptr<test::TcpConnection>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<test::TcpConnection>(serve.port));
  // Connections are taken in the order they were made: these are past the cap.
  const auto refused = test::http_request(serve.port, "POST", "/validate-pin", {}, "{}");
  CHECK(refused.status == 503);
  CHECK(json::parse(refused.body).at("message") == "server is at its connection limit: try again later");
  CHECK(refused.headers.at("retry-after") == "1");
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
  CHECK(test::http_request(serve.port, "GET", "/readyz").status == 200);
  // Fill the health-probe reserve with silent connections too: the next one is answered at once.
  for (std::size_t i = 0; i < proxy::ConnectionLimits::probe_reserve; ++i) {
    idle.push_back(std::make_unique<test::TcpConnection>(serve.port));
  }
  test::TcpConnection beyond(serve.port);
  const auto at_once = beyond.read_reply(5s);
  CHECK(at_once.status == 503);
  CHECK(at_once.headers.count("x-request-id") == 1);
  CHECK(beyond.wait_closed(5s));
  // Once the silent ones are gone, everything is served again.
  idle.clear();
  CHECK(eventually([&] { return test::http_request(serve.port, "POST", "/validate-pin", {}, "{}").status == 400; }));
  CHECK(metric(serve.port, "callproxy_connections_refused_total") >= 2);
}

TEST_CASE("with --max-connections-per-source one address holds at most that many connections, others still get in",
          "[serve][edge][limits]") {
  auto serve = test::start_serve({"--max-connections-per-source", "3"});
  std::vector<std::unique_ptr<test::TcpConnection>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<test::TcpConnection>(serve.port));
  // The fourth from 127.0.0.1 is answered 503 at once, health probe or not.
  test::TcpConnection beyond(serve.port);
  beyond.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(beyond.read_reply(5s).status == 503);
  CHECK(beyond.wait_closed(5s));
  // Another address is not held to 127.0.0.1's places.
  CHECK(test::http_request_from("127.0.0.2", serve.port, "GET", "/healthz").status == 200);
  // Once its connections are gone, the address is served again.
  idle.clear();
  CHECK(eventually([&] { return test::http_request(serve.port, "GET", "/healthz").status == 200; }));
  CHECK(metric(serve.port, "callproxy_connections_refused_total") >= 1);
}

TEST_CASE("serve raises its soft descriptor limit to the hard one and says so", "[serve][edge][limits]") {
  auto serve = test::start_serve({}, {}, {"/usr/bin/prlimit", "--nofile=100:300", "--"});
  CHECK_NOTHROW(serve.process->wait_for_stderr("file descriptors: soft limit raised from 100 to 300 (the hard limit)"));
  const auto limits = serve.process->wait_for_stderr("limits: ");
  CHECK(limits.find("connections at once") != std::string::npos);
  CHECK(std::stoul(limits.substr(limits.find("limits: ") + 8)) < 300);
}

TEST_CASE("limits that do not fit the descriptor limit stop serve at start, naming the flag", "[serve][edge][limits]") {
  const auto run = [](std::vector<std::string> args, const std::string& nofile) {
    args.insert(args.begin(), {"/usr/bin/prlimit", "--nofile=" + nofile, "--", CALLPROXY_BIN, "serve", "--bind",
                               "127.0.0.1", "--port", "0", "--store", "memory", "--threads", "2"});
    return test::run_command(args);
  };
  const auto too_many = run({"--max-connections", "5000"}, "128:128");
  CHECK(too_many.exit_code == 2);
  CHECK(too_many.err.find("--max-connections 5000 leaves serve no descriptors of its own") != std::string::npos);
  const auto calls = run({"--max-connections", "10", "--max-calls", "20"}, "128:128");
  CHECK(calls.exit_code == 2);
  CHECK(calls.err.find("--max-calls 20 is more than --max-connections 10") != std::string::npos);
  const auto too_low = run({}, "40:40");
  CHECK(too_low.exit_code == 2);
  CHECK(too_low.err.find("file descriptor limit (RLIMIT_NOFILE, 40) is too low") != std::string::npos);
}

TEST_CASE("with a low descriptor limit a burst of connections leaves /healthz answering", "[serve][edge][limits]") {
  auto serve = test::start_serve({}, {}, low_fd_limit);
  // 128 descriptors: a burst of 300 silent connections takes every place and more.
  std::vector<std::unique_ptr<test::TcpConnection>> burst;
  for (int i = 0; i < 300; ++i) burst.push_back(std::make_unique<test::TcpConnection>(serve.port));
  // Past the limit and the reserve, connections are answered 503 at once rather than left hanging.
  const auto last = burst.back()->read_reply(5s);
  CHECK(last.status == 503);
  // The reserve's silent connections are dropped after a short deadline: a probe then gets in.
  const auto started = std::chrono::steady_clock::now();
  CHECK(eventually([&] { return test::http_request(serve.port, "GET", "/healthz").status == 200; }, 8s));
  CHECK(std::chrono::steady_clock::now() - started < 8s);
  burst.clear();
  CHECK(eventually([&] { return test::http_request(serve.port, "GET", "/readyz").status == 200; }));
  CHECK(serve.process->err().find("accept failed") == std::string::npos);  // never out of descriptors
}

TEST_CASE("limits are derived from the descriptor limit with a reserve", "[edge][limits]") {
  // 2 loops keep 48 descriptors; 80 are left: calls at 10 each (a call, 8 backends, as much
  // again for HTTP), connections what the calls' backends leave.
  const auto plan = proxy::plan_descriptors(128, 2, 8, 0, 0);
  REQUIRE(plan);
  CHECK(plan.value().max_calls == 8);
  CHECK(plan.value().max_connections == 16);
  CHECK(plan.value().warning.empty());
  const auto large = proxy::plan_descriptors(1 << 20, 8, 8, 0, 0);
  REQUIRE(large);
  CHECK(large.value().max_calls > 100'000);
  CHECK(large.value().max_connections + large.value().max_calls * 8 + proxy::reserved_descriptors(8) <= (1U << 20));
  // Given limits are kept, and said to be risky when calls naming many backends could outgrow it.
  const auto given = proxy::plan_descriptors(128, 2, 8, 40, 20);
  REQUIRE(given);
  CHECK(given.value().max_connections == 40);
  CHECK(given.value().max_calls == 20);
  CHECK(given.value().warning.find("could need 248 file descriptors, more than its limit of 128") != std::string::npos);
  // Derived calls never outnumber the connections given.
  const auto few = proxy::plan_descriptors(128, 2, 8, 3, 0);
  REQUIRE(few);
  CHECK(few.value().max_calls == 3);
  CHECK_FALSE(proxy::plan_descriptors(128, 2, 8, 81, 0));
  CHECK_FALSE(proxy::plan_descriptors(63, 2, 8, 0, 0));
}

TEST_CASE("listening beyond loopback open to anyone is warned about, and --insecure-open-relay silences it",
          "[serve][edge][warnings]") {
  // 0.0.0.0 on a random port; the test reaches it through 127.0.0.1 only.
  const std::string warning =
      "SECURITY: listening on 0.0.0.0 without --validate-signatures and without --backend-allow";
  {
    test::ChildProcess open(test::callproxy_args({"serve", "--bind", "0.0.0.0", "--port", "0", "--store", "memory"}));
    const auto line = open.wait_for_stderr("listening on 0.0.0.0:");
    const auto port = static_cast<unsigned short>(std::stoi(line.substr(line.find("0.0.0.0:") + 8)));
    CHECK(test::http_request(port, "GET", "/healthz").status == 200);
    const auto log = open.err();
    REQUIRE(log.find(warning) != std::string::npos);
    CHECK(log.find("anyone can make serve connect to any host and port") != std::string::npos);
    CHECK(log.find("Anyone who can reach this port can stream to /media") != std::string::npos);
  }
  CHECK(start_up_log({"--bind", "0.0.0.0", "--insecure-open-relay"}).find("SECURITY") == std::string::npos);
  CHECK(start_up_log({"--bind", "0.0.0.0"}, {{"CALLPROXY_INSECURE_OPEN_RELAY", "true"}}).find("SECURITY") ==
        std::string::npos);
  CHECK(start_up_log({"--bind", "0.0.0.0", "--backend-allow", "127.0.0.1:9"}).find(warning) == std::string::npos);
  CHECK(start_up_log({"--bind", "0.0.0.0", "--validate-signatures", "--public-url", "wss://calls.example.com"},
                     {{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}})
            .find("SECURITY") == std::string::npos);
  CHECK(start_up_log({"--bind", "127.0.0.1"}).find("SECURITY") == std::string::npos);
}

TEST_CASE("signatures checked without --public-url are warned about: the URL comes from the Host header",
          "[serve][edge][warnings]") {
  const auto log = start_up_log({"--bind", "127.0.0.1", "--validate-signatures"},
                                {{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}});
  CHECK(log.find("SECURITY: --validate-signatures without --public-url") != std::string::npos);
  CHECK(log.find("rebuilt from the request's Host header") != std::string::npos);
  // An empty --public-url (the config file's commented default) is unset, not refused.
  CHECK(start_up_log({"--bind", "127.0.0.1", "--validate-signatures", "--public-url", ""},
                     {{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}})
            .find("SECURITY: --validate-signatures without --public-url") != std::string::npos);
  CHECK(start_up_log({"--bind", "127.0.0.1", "--validate-signatures", "--public-url", "https://calls.example.com"},
                     {{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}})
            .find("SECURITY") == std::string::npos);
}
