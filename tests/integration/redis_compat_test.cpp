// serve beside the Node twilio-call-proxy on one Redis: the Node service's keys and values (written
// here by a fixture, byte for byte) are honoured through the HTTP API, what serve writes is what
// the Node service reads, and the connection forms a Node deployment uses work (redis:// URLs
// with a password or an ACL user, REDIS_PASSWORD, rediss:// with the certificate verified).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <regex>

#include "support/child_process.h"
#include "support/http_client.h"
#include "support/redis_server.h"
#include "support/test_secrets.h"
#include "support/wait.h"
#include "support/ws_peer.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;
using test::eventually;

namespace {

const std::string demo_pins = std::string(CALLPROXY_ASSETS) + "/demo-pins.json";

test::HttpReply post_json(unsigned short port, const std::string& target, const json& body) {
  return test::http_request(port, "POST", target, {{"Content-Type", "application/json"}}, body.dump());
}

// The value of a key as the fixture reads it ("" and nil told apart by kind).
test::RedisValue get(const test::RedisServer& redis, const std::string& key, int db = 0) {
  return redis.command({"GET", key}, db);
}

// A debug route that writes: 201 once the store answered.
int count_attempt(unsigned short port, const std::string& caller = "+1") {
  return test::http_request(port, "POST", "/auth-attempts/" + caller).status;
}

}  // namespace

TEST_CASE("keys the Node service wrote are honoured: blocks, attempts and execution marks", "[redis][node]") {
  test::RedisServer redis;
  // Exactly what the Node service leaves in Redis.
  redis.command(
      {"SET", "blocked-callers-+15550001111", R"({"id":"+15550001111","blockedOn":"2026-01-02T03:04:05.678Z"})"});
  redis.command({"SET", "auth-attempts-+15550002222", "4", "EX", "3600"});
  redis.command({"SET", "executions-FN123", "FN123", "EX", "5"});
  auto serve = test::start_serve(
      {"--store", redis.url(), "--pins-file", demo_pins, "--api-key", test::secrets::api_key});

  // A blocked caller is refused without its PIN being checked, even the right one.
  const auto refused = post_json(serve.port, "/validate-pin", {{"pin", "1234"}, {"callerId", "+15550001111"}});
  REQUIRE(refused.status == 200);
  CHECK(json::parse(refused.body).at("authenticated") == false);
  CHECK(json::parse(refused.body).at("blocked") == true);
  const auto blocked = test::http_request(serve.port, "GET", "/blocked-callers/+15550001111");
  CHECK(blocked.status == 200);
  CHECK(json::parse(blocked.body) ==
        json{{"id", "+15550001111"}, {"blockedOn", "2026-01-02T03:04:05.678Z"}, {"blocked", true}});
  const auto list = test::http_request(serve.port, "GET", "/blocked-callers", {{"apiKey", test::secrets::api_key}});
  REQUIRE(list.status == 200);
  CHECK(json::parse(list.body).at("data") ==
        json::array({{{"id", "+15550001111"}, {"blockedOn", "2026-01-02T03:04:05.678Z"}, {"blocked", true}}}));

  // Attempts counted by the Node service are counted on.
  const auto wrong = post_json(serve.port, "/validate-pin", {{"pin", "0000"}, {"callerId", "+15550002222"}});
  REQUIRE(wrong.status == 200);
  CHECK(json::parse(wrong.body).at("attempts").at("attempts") == 5);
  CHECK(get(redis, "auth-attempts-+15550002222").text == "5");

  // An execution the Node service carries is connected as far as Studio can tell, until its
  // mark is gone.
  CHECK(test::http_request(serve.port, "GET", "/executions/FN123/connected").status == 200);
  redis.command({"DEL", "executions-FN123"});
  CHECK(test::http_request(serve.port, "GET", "/executions/FN123/connected").status == 410);

  // Unblocking through us frees the caller for the Node service too.
  CHECK(test::http_request(serve.port, "DELETE", "/blocked-callers/+15550001111", {{"apiKey", test::secrets::api_key}})
            .status == 204);
  CHECK(redis.command({"EXISTS", "blocked-callers-+15550001111"}).integer == 0);
}

TEST_CASE("what serve writes to Redis is byte for byte what the Node service writes", "[redis][node]") {
  test::RedisServer redis;
  test::BackendServer backend;
  auto serve = test::start_serve({"--store", redis.url(2), "--pins-file", demo_pins, "--api-key",
                                  test::secrets::api_key, "--attempts-allowed", "2", "--attempts-ttl", "1234",
                                  "--debug-routes"});
  const std::string caller = "+15553334444";

  // A failure: the count as decimal text, EX the attempts TTL.
  post_json(serve.port, "/validate-pin", {{"pin", "0000"}, {"callerId", caller}});
  CHECK(get(redis, "auth-attempts-" + caller, 2).text == "1");
  const auto ttl = redis.command({"TTL", "auth-attempts-" + caller}, 2).integer;
  CHECK(ttl > 1230);
  CHECK(ttl <= 1234);

  // The failure that exceeds the allowance blocks: {"id","blockedOn"} without expiry; the count
  // stays, its TTL restarted.
  post_json(serve.port, "/validate-pin", {{"pin", "0000"}, {"callerId", caller}});
  const auto third = post_json(serve.port, "/validate-pin", {{"pin", "0000"}, {"callerId", caller}});
  CHECK(json::parse(third.body).at("blocked") == true);
  CHECK(get(redis, "auth-attempts-" + caller, 2).text == "3");
  const auto record = get(redis, "blocked-callers-" + caller, 2);
  REQUIRE(record.kind == test::RedisValue::Kind::string);
  const std::regex node_record(R"(\{"id":"\+15553334444","blockedOn":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\})");
  CHECK(std::regex_match(record.text, node_record));
  CHECK(redis.command({"TTL", "blocked-callers-" + caller}, 2).integer == -1);
  const auto shown = json::parse(test::http_request(serve.port, "GET", "/blocked-callers/" + caller).body);
  CHECK(record.text == R"({"id":"+15553334444","blockedOn":")" + shown.at("blockedOn").get<std::string>() + "\"}");

  // Unblocking deletes both keys.
  CHECK(test::http_request(serve.port, "DELETE", "/blocked-callers/" + caller, {{"apiKey", test::secrets::api_key}})
            .status == 204);
  CHECK(redis.command({"EXISTS", "blocked-callers-" + caller, "auth-attempts-" + caller}, 2).integer == 0);

  // A success deletes the count.
  post_json(serve.port, "/validate-pin", {{"pin", "0000"}, {"callerId", "+15556667777"}});
  CHECK(redis.command({"EXISTS", "auth-attempts-+15556667777"}, 2).integer == 1);
  post_json(serve.port, "/validate-pin", {{"pin", "1234"}, {"callerId", "+15556667777"}});
  CHECK(redis.command({"EXISTS", "auth-attempts-+15556667777"}, 2).integer == 0);

  // An ID that is not a number is JSON-escaped as JSON.stringify escapes it.
  CHECK(test::http_request(serve.port, "POST", "/blocked-callers/client%3Aal%22i%5Cce",
                           {{"apiKey", test::secrets::api_key}})
            .status == 201);
  const auto escaped = get(redis, R"(blocked-callers-client:al"i\ce)", 2).text;
  CHECK(escaped.rfind(R"({"id":"client:al\"i\\ce","blockedOn":")", 0) == 0);

  // A live call's execution: the id as the value, EX 5 (refreshed while the call lives).
  {
    test::WsClient call(serve.port, "/media");
    call.send_text(R"({"event":"start","sequenceNumber":"1","start":{"streamSid":"MZ1","callSid":"CA1",)"
                   R"("tracks":["inbound"],"customParameters":{"executionId":"FN9","backendHosts":"[\")" +
                   backend.host_port() + R"(\"]"}}})");
    REQUIRE(backend.wait_for_messages(1));
    CHECK(eventually([&] { return get(redis, "executions-FN9", 2).text == "FN9"; }));
    const auto pttl = redis.command({"PTTL", "executions-FN9"}, 2).integer;
    CHECK(pttl > 0);
    CHECK(pttl <= 5000);
    // Beside it, with the same expiry, the stream that owns the mark (a key the Node service
    // never reads): only that stream's end clears the mark.
    CHECK(get(redis, "callproxy:execution-owner:FN9", 2).text.size() == 32);
  }
  // Once the call is over its mark is gone, and nothing is left under callproxy's own scheme.
  CHECK(eventually([&] { return redis.command({"EXISTS", "executions-FN9"}, 2).integer == 0; }));
  CHECK(redis.command({"KEYS", "callproxy:*"}, 2).elements.empty());
}

TEST_CASE("callproxy's own Redis keys (--redis-keys callproxy) stay apart from the Node service's", "[redis]") {
  test::RedisServer redis;
  auto serve = test::start_serve({"--store", redis.url(), "--redis-keys", "callproxy", "--debug-routes"});
  CHECK(count_attempt(serve.port, "+1") == 201);
  CHECK(get(redis, "callproxy:attempts:+1").text == "1");
  CHECK(redis.command({"EXISTS", "auth-attempts-+1"}).integer == 0);
  CHECK(test::http_request(serve.port, "POST", "/blocked-callers/+1").status == 201);
  CHECK(redis.command({"HEXISTS", "callproxy:blocked", "+1"}).integer == 1);
  CHECK(serve.process->err().find("(callproxy keys)") != std::string::npos);

  const auto bad = test::run_command(test::callproxy_args({"serve", "--port", "0", "--redis-keys", "hash"}));
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--redis-keys") != std::string::npos);
}

TEST_CASE("Redis with a password: in the URL, from REDIS_PASSWORD, or an ACL user, and a wrong one is said",
          "[redis][auth]") {
  test::RedisServer redis({"admin-pw-81", {"alice on >alice-pw-62 ~* &* +@all"}, {}, {}});
  const auto port = std::to_string(redis.port());
  {
    auto serve = test::start_serve({"--store", "redis://:admin-pw-81@127.0.0.1:" + port, "--debug-routes"});
    CHECK(count_attempt(serve.port) == 201);
    CHECK(serve.process->err().find("admin-pw-81") == std::string::npos);
  }
  {
    // The Node service's environment: REMOTE_CACHE_ENABLED, REDIS_HOST (here a URL), REDIS_PASSWORD.
    test::ChildProcess node_style(
        test::callproxy_args({"serve", "--bind", "127.0.0.1", "--port", "0", "--debug-routes"}),
        {{"REMOTE_CACHE_ENABLED", "true"},
         {"REDIS_HOST", "redis://127.0.0.1:" + port + "/1"},
         {"REDIS_PASSWORD", "admin-pw-81"}});
    const auto line = node_style.wait_for_stderr("listening on 127.0.0.1:");
    const auto serve_port = static_cast<unsigned short>(std::stoi(line.substr(line.find("127.0.0.1:") + 10)));
    CHECK(node_style.err().find("state store: redis://127.0.0.1:" + port + "/1") != std::string::npos);
    CHECK(count_attempt(serve_port, "+2") == 201);
    CHECK(get(redis, "auth-attempts-+2", 1).text == "1");
  }
  {
    auto serve = test::start_serve({"--store", "redis://alice:alice-pw-62@127.0.0.1:" + port + "/3", "--debug-routes"});
    CHECK(count_attempt(serve.port, "+3") == 201);
    CHECK(get(redis, "auth-attempts-+3", 3).text == "1");
    CHECK(serve.process->err().find("redis://alice@127.0.0.1:" + port + "/3") != std::string::npos);
    CHECK(serve.process->err().find("alice-pw-62") == std::string::npos);
  }
  {
    auto serve = test::start_serve({"--store", "redis://alice:wrong-pw-17@127.0.0.1:" + port, "--debug-routes"});
    CHECK(count_attempt(serve.port) == 503);
    CHECK_NOTHROW(serve.process->wait_for_stderr("AUTH refused", 10s));
    CHECK(serve.process->err().find("WRONGPASS") != std::string::npos);
    CHECK(serve.process->err().find("wrong-pw-17") == std::string::npos);
  }
  {
    // No password at all: Redis refuses the commands, the routes say the store is unavailable.
    auto serve = test::start_serve({"--store", "redis://127.0.0.1:" + port, "--debug-routes"});
    CHECK(count_attempt(serve.port) == 503);
  }
}

TEST_CASE("rediss:// verifies Redis's certificate: trusted through --redis-ca, refused otherwise", "[redis][tls]") {
  const auto dir = test::make_test_certificate("server");
  test::RedisServer redis({{}, {}, dir + "/cert.pem", dir + "/key.pem"});
  const auto tls_port = std::to_string(redis.tls_port());
  {
    auto serve = test::start_serve(
        {"--store", "rediss://localhost:" + tls_port, "--redis-ca", dir + "/cert.pem", "--debug-routes"});
    CHECK(count_attempt(serve.port) == 201);
    CHECK(get(redis, "auth-attempts-+1").text == "1");
    CHECK(serve.process->err().find("state store: rediss://localhost:" + tls_port) != std::string::npos);
  }
  {
    // Through OpenSSL's SSL_CERT_FILE (the system store's stand-in) and CALLPROXY_REDIS_CA alike.
    auto serve = test::start_serve({"--store", "rediss://localhost:" + tls_port, "--debug-routes"},
                                   {{"SSL_CERT_FILE", dir + "/cert.pem"}});
    CHECK(count_attempt(serve.port, "+2") == 201);
    auto from_env = test::start_serve({"--store", "rediss://localhost:" + tls_port, "--debug-routes"},
                                      {{"CALLPROXY_REDIS_CA", dir + "/cert.pem"}});
    CHECK(count_attempt(from_env.port, "+3") == 201);
  }
  {
    // Not trusted: no connection.
    auto serve = test::start_serve({"--store", "rediss://localhost:" + tls_port, "--debug-routes"},
                                   {{"SSL_CERT_FILE", "/nonexistent"}, {"SSL_CERT_DIR", "/nonexistent"}});
    CHECK(count_attempt(serve.port) == 503);
    CHECK_NOTHROW(serve.process->wait_for_stderr("TLS handshake failed", 10s));
  }
  {
    // Trusted, but not for the name asked for (the certificate names localhost only).
    auto serve = test::start_serve(
        {"--store", "rediss://127.0.0.1:" + tls_port, "--redis-ca", dir + "/cert.pem", "--debug-routes"});
    CHECK(count_attempt(serve.port) == 503);
    CHECK_NOTHROW(serve.process->wait_for_stderr("TLS handshake failed", 10s));
  }
  {
    // A CA file that is no certificate stops serve at start, naming the flag.
    const auto bad = test::run_command(test::callproxy_args(
        {"serve", "--port", "0", "--store", "rediss://localhost:" + tls_port, "--redis-ca", dir + "/key.pem"}));
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("--redis-ca") != std::string::npos);
  }
  test::run_command({"/bin/rm", "-rf", dir});
}
