// The callers API: the same contract over every store, and the real binary's routes. (Its units:
// pin_directory_test.cpp, caller_id_test.cpp, pin_budget_test.cpp, limited_log_test.cpp.)
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <future>
#include <thread>

#include "proxy/callers/caller_routes.h"
#include "proxy/store/state_store.h"
#include "support/child_process.h"
#include "support/http_client.h"
#include "support/http_server.h"
#include "support/media_call.h"
#include "support/redis_server.h"
#include "support/test_secrets.h"
#include "support/wait.h"
#include "support/ws_peer.h"
#include "test_data.h"
#include "twilio/percent_encoding.h"
#include "twilio/signature.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Blocks on a store callback (the SQLite store answers from its worker thread).
template <class T, class Call>
proxy::StoreResult<T> wait_for(Call call) {
  std::promise<proxy::StoreResult<T>> promise;
  call([&promise](proxy::StoreResult<T> r) { promise.set_value(std::move(r)); });
  return promise.get_future().get();
}

// One store of each kind, behind the same contract; Redis is a real redis-server.
struct StoreUnderTest {
  explicit StoreUnderTest(const std::string& kind) : db(test::temp_path("contract.db")) {
    if (kind == "memory") store = proxy::make_memory_store();
    if (kind == "sqlite") store = proxy::make_sqlite_store(db);
    if (kind == "redis" || kind == "redis-callproxy") {
      redis.emplace();
      proxy::StoreSpec::Redis spec;
      spec.host = "127.0.0.1";
      spec.port = redis->port();
      spec.db = 3;
      if (kind == "redis-callproxy") spec.keys = proxy::RedisKeys::callproxy;
      store = proxy::make_redis_store(spec);
    }
  }
  ~StoreUnderTest() {
    store.reset();
    for (const auto* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  }
  std::string db;
  std::optional<test::RedisServer> redis;
  std::unique_ptr<proxy::StateStore> store;
};

// "redis" with the Node service's keys (the default), "redis-callproxy" with callproxy's own.
const char* const store_kinds[] = {"memory", "sqlite", "redis", "redis-callproxy"};

std::string write_file(const std::string& name, const std::string& text) {
  const auto path = test::temp_path(name);
  std::ofstream(path) << text;
  return path;
}

const std::string demo_pins = std::string(CALLPROXY_ASSETS) + "/demo-pins.json";

test::HttpReply post_json(unsigned short port, const std::string& target, const json& body,
                          std::map<std::string, std::string> headers = {}) {
  headers["Content-Type"] = "application/json";
  return test::http_request(port, "POST", target, headers, body.dump());
}

}  // namespace

TEST_CASE("every store counts attempts, blocks on the one too many, and forgets on unblock", "[callers][store]") {
  for (const std::string kind : store_kinds) {
    INFO(kind);
    StoreUnderTest under_test(kind);
    auto& store = under_test.store;
    const proxy::AttemptPolicy policy{3, 86400s};
    for (int i = 1; i <= 3; ++i) {
      const auto state = wait_for<proxy::CallerState>([&](auto done) { store->record_failure("+1", policy, done); });
      REQUIRE(state.ok());
      CHECK(state.value().attempts == i);
      CHECK_FALSE(state.value().blocked);
    }
    const auto fourth = wait_for<proxy::CallerState>([&](auto done) { store->record_failure("+1", policy, done); });
    CHECK(fourth.value().attempts == 4);
    CHECK(fourth.value().blocked);
    CHECK(fourth.value().blocked_on.size() == 24);  // 2026-11-25T16:00:00.000Z
    const auto list = wait_for<std::vector<proxy::CallerState>>([&](auto done) { store->blocked_callers(done); });
    REQUIRE(list.value().size() == 1);
    CHECK(list.value()[0].id == "+1");
    CHECK(wait_for<bool>([&](auto done) { store->unblock("+1", done); }).value());
    CHECK_FALSE(wait_for<bool>([&](auto done) { store->unblock("+1", done); }).value());
    const auto after = wait_for<proxy::CallerState>([&](auto done) { store->caller("+1", done); });
    CHECK(after.value().attempts == 0);
    CHECK_FALSE(after.value().blocked);

    // A success clears the count; a block by hand is a block.
    wait_for<proxy::CallerState>([&](auto done) { store->record_failure("+2", policy, done); });
    wait_for<proxy::Done>([&](auto done) { store->clear_attempts("+2", done); });
    CHECK(wait_for<proxy::CallerState>([&](auto done) { store->caller("+2", done); }).value().attempts == 0);
    CHECK(wait_for<proxy::CallerState>([&](auto done) { store->block("+3", done); }).value().blocked);
    // Execution marks, with their TTL.
    wait_for<proxy::Done>(
        [&](auto done) { store->mark_connected("FN1", "stream-1", proxy::MarkUpdate::claim, 300ms, done); });
    CHECK(wait_for<bool>([&](auto done) { store->is_connected("FN1", done); }).value());
    CHECK(test::eventually(
        [&] { return !wait_for<bool>([&](auto done) { store->is_connected("FN1", done); }).value(); }, 5s));
  }
}

TEST_CASE("every store lets failed attempts expire after the TTL", "[callers][store]") {
  for (const std::string kind : store_kinds) {
    INFO(kind);
    StoreUnderTest under_test(kind);
    auto& store = under_test.store;
    const proxy::AttemptPolicy policy{9, 1s};
    wait_for<proxy::CallerState>([&](auto done) { store->record_failure("+1", policy, done); });
    CHECK(wait_for<proxy::CallerState>([&](auto done) { store->caller("+1", done); }).value().attempts == 1);
    CHECK(test::eventually(
        [&] {
          return wait_for<proxy::CallerState>([&](auto done) { store->caller("+1", done); }).value().attempts == 0;
        },
        5s));
    // The next failure starts again at one.
    CHECK(
        wait_for<proxy::CallerState>([&](auto done) { store->record_failure("+1", policy, done); }).value().attempts ==
        1);
  }
}

TEST_CASE("concurrent failures all count, in every store", "[callers][store]") {
  for (const std::string kind : store_kinds) {
    INFO(kind);
    StoreUnderTest under_test(kind);
    auto& store = under_test.store;
    const proxy::AttemptPolicy policy{1000, 86400s};
    std::vector<std::thread> threads;
    std::atomic<int> answered{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 50; ++i) {
          wait_for<proxy::CallerState>([&](auto done) { store->record_failure("+race", policy, done); });
          ++answered;
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(answered == 200);
    CHECK(wait_for<proxy::CallerState>([&](auto done) { store->caller("+race", done); }).value().attempts == 200);
  }
}

TEST_CASE("validate-pin: the right PIN routes, the tenth wrong one blocks, a blocked caller is refused",
          "[callers][api]") {
  auto serve = test::start_serve({"--pins-file", test::secrets::pins_file()});
  const auto ok = post_json(serve.port, "/validate-pin", {{"pin", test::secrets::pin}, {"callerId", "+15550001"}});
  CHECK(ok.status == 200);
  CHECK(json::parse(ok.body) ==
        json{{"authenticated", true}, {"backendIds", "[1]"}, {"backendHosts", R"(["localhost:8888"])"}});

  json last;
  for (int i = 1; i <= 10; ++i) {
    const auto wrong = post_json(serve.port, "/validate-pin",
                                 {{"pin", test::secrets::wrong_pin}, {"callerId", "+15550002"}});
    REQUIRE(wrong.status == 200);
    last = json::parse(wrong.body);
    CHECK(last.at("attempts").at("attempts") == i);
    CHECK(last.at("blocked") == (i == 10));
  }
  CHECK(last == json{{"authenticated", false},
                     {"attempts", {{"id", "+15550002"}, {"attempts", 10}, {"blocked", true}}},
                     {"blocked", true}});
  // Blocked: even the right PIN is refused.
  const auto blocked = json::parse(
      post_json(serve.port, "/validate-pin", {{"pin", test::secrets::pin}, {"callerId", "+15550002"}}).body);
  CHECK(blocked.at("authenticated") == false);
  CHECK(blocked.at("blocked") == true);

  // A success clears earlier failures.
  post_json(serve.port, "/validate-pin", {{"pin", test::secrets::wrong_pin}, {"callerId", "+15550003"}});
  post_json(serve.port, "/validate-pin", {{"pin", test::secrets::hashed_pin}, {"callerId", "+15550003"}});
  const auto fresh = json::parse(
      post_json(serve.port, "/validate-pin", {{"pin", test::secrets::wrong_pin}, {"callerId", "+15550003"}}).body);
  CHECK(fresh.at("attempts").at("attempts") == 1);

  // A form body works too.
  const auto form = test::http_request(serve.port, "POST", "/validate-pin",
                                       {{"Content-Type", "application/x-www-form-urlencoded"}},
                                       "pin=" + test::secrets::pin + "&callerId=%2B1555");
  CHECK(json::parse(form.body).at("authenticated") == true);
}

TEST_CASE("without a pins file every PIN is refused and serve says so", "[callers][api]") {
  auto serve = test::start_serve();
  CHECK(serve.process->err().find("no --pins-file and no --pin-api") != std::string::npos);
  const auto r = json::parse(post_json(serve.port, "/validate-pin", {{"pin", "1234"}, {"callerId", "+1"}}).body);
  CHECK(r.at("authenticated") == false);
}

TEST_CASE("blocked-callers: lookup, withheld IDs, admin list and delete behind the api key", "[callers][api]") {
  auto serve = test::start_serve({"--pins-file", demo_pins, "--attempts-allowed", "1"},
                                 {{"SERVER_API_KEY", test::secrets::api_key}});
  CHECK(test::http_request(serve.port, "GET", "/blocked-callers/+1777").status == 404);
  post_json(serve.port, "/validate-pin", {{"pin", "0"}, {"callerId", "+1777"}});
  post_json(serve.port, "/validate-pin", {{"pin", "0"}, {"callerId", "+1777"}});
  const auto found = test::http_request(serve.port, "GET", "/blocked-callers/%2B1777");
  REQUIRE(found.status == 200);
  const auto body = json::parse(found.body);
  CHECK(body.at("id") == "+1777");
  CHECK(body.at("blocked") == true);
  CHECK(body.at("blockedOn").get<std::string>().size() == 24);
  CHECK(json::parse(test::http_request(serve.port, "GET", "/blocked-callers/+266696687").body) ==
        json{{"id", "+266696687"}, {"withheld", true}, {"blocked", true}});

  CHECK(test::http_request(serve.port, "GET", "/blocked-callers").status == 403);
  CHECK(test::http_request(serve.port, "GET", "/blocked-callers", {{"apiKey", "wrong"}}).status == 403);
  const auto list = test::http_request(serve.port, "GET", "/blocked-callers", {{"apiKey", test::secrets::api_key}});
  CHECK(list.status == 200);
  CHECK(json::parse(list.body).at("data").size() == 1);
  CHECK(test::http_request(serve.port, "DELETE", "/blocked-callers/+1777").status == 403);
  CHECK(
      test::http_request(serve.port, "DELETE", "/blocked-callers/+1777", {{"apiKey", test::secrets::api_key}}).status ==
      204);
  CHECK(
      test::http_request(serve.port, "DELETE", "/blocked-callers/+1777", {{"apiKey", test::secrets::api_key}}).status ==
      404);
  // Unblocking also cleared the attempts: one failure does not block again.
  const auto again = json::parse(post_json(serve.port, "/validate-pin", {{"pin", "0"}, {"callerId", "+1777"}}).body);
  CHECK(again.at("attempts").at("attempts") == 1);
  CHECK(again.at("blocked") == false);

  // No key configured: everyone is refused.
  auto keyless = test::start_serve({}, {{"SERVER_API_KEY", std::nullopt}});
  CHECK(test::http_request(keyless.port, "GET", "/blocked-callers", {{"apiKey", ""}}).status == 403);
}

TEST_CASE("serve refuses a short or empty api key at start, naming the flag", "[callers][api]") {
  for (const auto& [args, env] : std::vector<std::pair<std::vector<std::string>, test::EnvChanges>>{
           {{"--api-key", "fifteen-chars!!"}, {}},
           {{}, {{"SERVER_API_KEY", "short"}}},
           {{"--api-key", ""}, {}},
           // Empty from the environment (a deployment's SERVER_API_KEY= with no value): CLI11
           // takes it for unset, and serve started keyless with its debug routes open.
           {{"--debug-routes"}, {{"SERVER_API_KEY", ""}}},
       }) {
    INFO((args.empty() || args.at(0) != "--api-key" ? "SERVER_API_KEY" : "--api-key '" + args.at(1) + "'"));
    auto argv = test::callproxy_args({"serve", "--bind", "127.0.0.1", "--port", "0", "--store", "memory"});
    argv.insert(argv.end(), args.begin(), args.end());
    const auto result = test::run_command(argv, env);
    CHECK(result.exit_code == 2);
    CHECK(result.err.find("--api-key (SERVER_API_KEY)") != std::string::npos);
    CHECK(result.err.find("listening") == std::string::npos);
  }
  // Sixteen characters are enough.
  auto serve = test::start_serve({"--api-key", "sixteen-chars-ok"});
  CHECK(test::http_request(serve.port, "GET", "/blocked-callers", {{"apiKey", "sixteen-chars-ok"}}).status == 200);
}

TEST_CASE("a short api key's error says how to make one, and to set it on the Node instances first", "[callers][api]") {
  // The rolling swap (docs/migrating.md) starts from the Node deployment's environment, whose key
  // may be short: the error is what tells that team how to go on.
  const auto result = test::run_command(
      test::callproxy_args({"serve", "--bind", "127.0.0.1", "--port", "0", "--store", "memory"}),
      {{"SERVER_API_KEY", "node-key-123"}});
  CHECK(result.exit_code == 2);
  CHECK(result.err.find("must be at least 16 characters; the one given has 12") != std::string::npos);
  CHECK(result.err.find("openssl rand -hex 24") != std::string::npos);
  CHECK(result.err.find("on the Node instances") != std::string::npos);
  CHECK(result.err.find("node-key-123") == std::string::npos);  // a secret, even a refused one, is not logged
  CHECK(result.err.find("listening") == std::string::npos);
}

TEST_CASE("debug routes exist only when enabled", "[callers][api]") {
  auto plain = test::start_serve();
  CHECK(test::http_request(plain.port, "POST", "/auth-attempts/+1").status == 404);
  auto debug = test::start_serve({}, {{"ENABLE_DEBUG_ROUTES", "true"}});
  const auto attempt = test::http_request(debug.port, "POST", "/auth-attempts/+1");
  CHECK(attempt.status == 201);
  CHECK(json::parse(attempt.body) == json{{"id", "+1"}, {"attempts", 1}, {"blocked", false}});
  CHECK(json::parse(test::http_request(debug.port, "GET", "/auth-attempts/+1").body) == json{{"attempts", 1}});
  CHECK(test::http_request(debug.port, "GET", "/auth-attempts/+2").status == 404);
  CHECK(test::http_request(debug.port, "POST", "/blocked-callers/+3").status == 201);
  CHECK(test::http_request(debug.port, "GET", "/blocked-callers/+3").status == 200);
}

TEST_CASE("with an api key configured the debug routes that write need it", "[callers][api]") {
  auto serve = test::start_serve({"--debug-routes"}, {{"SERVER_API_KEY", test::secrets::api_key}});
  const std::map<std::string, std::string> key{{"apiKey", test::secrets::api_key}};
  for (const auto* target : {"/blocked-callers/+15550009999", "/auth-attempts/+15550009999"}) {
    INFO(target);
    const auto without = test::http_request(serve.port, "POST", target);
    CHECK(without.status == 403);
    CHECK(json::parse(without.body).at("message") == "missing or wrong apiKey header");
    CHECK(test::http_request(serve.port, "POST", target, {{"apiKey", "wrong-key-of-some-length"}}).status == 403);
  }
  // Nothing was written by the refused requests.
  CHECK(test::http_request(serve.port, "GET", "/blocked-callers/+15550009999").status == 404);
  CHECK(test::http_request(serve.port, "GET", "/auth-attempts/+15550009999").status == 404);
  CHECK(test::http_request(serve.port, "POST", "/auth-attempts/+15550009999", key).status == 201);
  CHECK(test::http_request(serve.port, "POST", "/blocked-callers/+15550009999", key).status == 201);
  CHECK(test::http_request(serve.port, "GET", "/blocked-callers/+15550009999").status == 200);
}

TEST_CASE("signed routes: JSON fields, form fields and bodySHA256 are checked as Twilio signs them",
          "[callers][signature]") {
  const std::string& token = test::secrets::auth_token;
  auto serve = test::start_serve({"--validate-signatures", "--pins-file", demo_pins}, {{"TWILIO_AUTH_TOKEN", token}});
  const std::string base = "https://127.0.0.1:" + std::to_string(serve.port);
  const json body{{"pin", "1234"}, {"callerId", "+1888"}};

  // Without bodySHA256, the JSON body's top-level fields are the signed parameters.
  const auto field_sig = twilio::compute_signature(token, base + "/validate-pin",
                                                   {{"pin", "1234"}, {"callerId", "+1888"}});
  CHECK(post_json(serve.port, "/validate-pin", body, {{"X-Twilio-Signature", field_sig}}).status == 200);
  CHECK(post_json(serve.port, "/validate-pin", body).status == 400);
  CHECK(post_json(serve.port, "/validate-pin", body, {{"X-Twilio-Signature", "bm90IGl0"}}).status == 403);
  const json tampered{{"pin", "9999"}, {"callerId", "+1888"}};
  CHECK(post_json(serve.port, "/validate-pin", tampered, {{"X-Twilio-Signature", field_sig}}).status == 403);

  // With bodySHA256 the URL alone is signed, and the body must be the one hashed.
  const auto url = twilio::url_with_body_hash(base + "/validate-pin", body.dump());
  const auto target = url.substr(base.size());
  const auto url_sig = twilio::compute_signature(token, url, {});
  CHECK(post_json(serve.port, target, body, {{"X-Twilio-Signature", url_sig}}).status == 200);
  CHECK(post_json(serve.port, target, tampered, {{"X-Twilio-Signature", url_sig}}).status == 403);

  // Form bodies sign their fields.
  const auto form_sig = twilio::compute_signature(token, base + "/validate-pin",
                                                  {{"pin", "1234"}, {"callerId", "+1888"}});
  CHECK(test::http_request(serve.port, "POST", "/validate-pin",
                           {{"Content-Type", "application/x-www-form-urlencoded"}, {"X-Twilio-Signature", form_sig}},
                           "pin=1234&callerId=%2B1888")
            .status == 200);

  // Nested arrays are the key repeated for every element, as Twilio's library flattens them.
  const json tagged{{"pin", "1234"}, {"callerId", "+1888"}, {"tags", {{"x", "y"}, "z"}}};
  const auto tagged_sig = twilio::compute_signature(
      token, base + "/validate-pin",
      {{"pin", "1234"}, {"callerId", "+1888"}, {"tags", "x"}, {"tags", "y"}, {"tags", "z"}});
  CHECK(post_json(serve.port, "/validate-pin", tagged, {{"X-Twilio-Signature", tagged_sig}}).status == 200);

  // GET routes sign the URL.
  const auto get_sig = twilio::compute_signature(token, base + "/blocked-callers/+1888", {});
  CHECK(test::http_request(serve.port, "GET", "/blocked-callers/+1888", {{"X-Twilio-Signature", get_sig}}).status ==
        404);
  CHECK(test::http_request(serve.port, "GET", "/blocked-callers/+1888").status == 400);
}

TEST_CASE("a refused signature is logged without the query string, which may carry secrets", "[callers][signature]") {
  auto serve = test::start_serve({"--validate-signatures", "--pins-file", test::secrets::pins_file()},
                                 {{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}});
  const std::string host = "127.0.0.1:" + std::to_string(serve.port);
  const auto query = "?token=" + test::secrets::api_key;
  // Signed with the wrong token: refused, and the log says which URL was checked, query aside.
  const auto forged = twilio::compute_signature(test::secrets::other_auth_token,
                                                "https://" + host + "/validate-pin" + query, {{"pin", "1"}});
  CHECK(post_json(serve.port, "/validate-pin" + query, {{"pin", "1"}, {"callerId", "+1"}},
                  {{"X-Twilio-Signature", forged}})
            .status == 403);
  CHECK(
      serve.process->wait_for_stderr("signed URL checked").find("https://" + host + "/validate-pin, query not shown") !=
      std::string::npos);
  try {
    test::WsClient ws(serve.port, "/media" + query,
                      {{"X-Twilio-Signature", twilio::compute_signature(test::secrets::other_auth_token,
                                                                        "wss://" + host + "/media" + query, {})}});
    FAIL("a wrongly signed handshake was accepted");
  } catch (const test::HandshakeRefused& e) {
    CHECK(e.status == 403);
  }
  CHECK_NOTHROW(serve.process->wait_for_stderr("wss://" + host + "/media, query not shown"));
  // The secrets check of test support runs when serve ends: the query's key must not be there.
}

TEST_CASE("refused signatures are logged once per reason and interval, in lines of bounded length",
          "[callers][signature][log][bad-input]") {
  // Without --public-url the checked URL carries the Host header, which a client makes as long as
  // the 16 KiB header limit allows; every forged request wrote it in full before.
  auto serve = test::start_serve({"--validate-signatures", "--pins-file", test::secrets::pins_file()},
                                 {{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}});
  const std::string host(6000, 'h');
  const std::string body = json{{"pin", "1"}, {"callerId", "+1"}}.dump();
  const auto forged = twilio::compute_signature(test::secrets::other_auth_token, "https://" + host + "/validate-pin",
                                                {{"pin", "1"}});
  const auto flood_began = std::chrono::steady_clock::now();
  for (int i = 0; i < 40; ++i) {
    const auto answer = test::raw_exchange(
        serve.port, "POST /validate-pin HTTP/1.1\r\nHost: " + host +
                        "\r\nContent-Type: application/json\r\nX-Twilio-Signature: " + forged +
                        "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    REQUIRE(answer.rfind("HTTP/1.1 403", 0) == 0);
  }
  for (int i = 0; i < 40; ++i) {
    try {
      test::WsClient ws(serve.port, "/media");
      FAIL("an unsigned handshake was accepted");
    } catch (const test::HandshakeRefused& e) {
      REQUIRE(e.status == 400);
    }
  }
  // One line per reason and 10 s at most: one each, unless this machine took that long.
  const auto intervals = static_cast<std::size_t>((std::chrono::steady_clock::now() - flood_began) / 10s);
  // Every line of the floods is written before its answer; this request's line comes after them all.
  test::http_request(serve.port, "GET", "/after-the-floods");
  serve.process->wait_for_stderr("/after-the-floods");
  const auto log = serve.process->err();
  for (const auto* line : {"POST /validate-pin: refused: ", "media: handshake without X-Twilio-Signature refused"}) {
    INFO(line);
    CHECK(test::count_of(log, line) >= 1);
    CHECK(test::count_of(log, line) <= 1 + intervals);
  }
  CHECK(log.find("signed URL checked: https://" + host.substr(0, 248) + "…") != std::string::npos);
  CHECK(log.find(host.substr(0, 300)) == std::string::npos);
  CHECK(test::longest_line(log) < 1024);
}

TEST_CASE("a body nested 100000 deep is refused with a 4xx and the server lives on",
          "[callers][bad-input][signature]") {
  const std::string& token = test::secrets::auth_token;
  auto serve = test::start_serve({"--validate-signatures", "--pins-file", demo_pins, "--max-body-bytes", "1048576"},
                                 {{"TWILIO_AUTH_TOKEN", token}});
  const std::string base = "https://127.0.0.1:" + std::to_string(serve.port);
  const std::size_t depth = 100'000;
  const std::string deep = R"({"pin":"1234","callerId":"+1888","a":)" + std::string(depth, '[') +
                           std::string(depth, ']') + "}";
  REQUIRE(deep.size() > 200'000);
  const std::map<std::string, std::string> json_type{{"Content-Type", "application/json"}};
  auto with = [&](std::map<std::string, std::string> headers) {
    headers.insert(json_type.begin(), json_type.end());
    return headers;
  };

  // Signed over its other fields: the parameters must be collected before the signature can be
  // checked, and that is where the nesting is refused.
  const auto sig = twilio::compute_signature(token, base + "/validate-pin", {{"pin", "1234"}, {"callerId", "+1888"}});
  const auto refused = test::http_request(serve.port, "POST", "/validate-pin", with({{"X-Twilio-Signature", sig}}),
                                          deep);
  CHECK(refused.status == 400);
  CHECK_THAT(json::parse(refused.body).at("message").get<std::string>(),
             Catch::Contains("nested deeper than 32 levels"));
  // A signature that cannot be Twilio's is refused before the body is looked at.
  CHECK(test::http_request(serve.port, "POST", "/validate-pin", with({{"X-Twilio-Signature", "bm90IGl0"}}), deep)
            .status == 403);
  // Rightly signed with bodySHA256: the route's own parse refuses it.
  const auto url = twilio::url_with_body_hash(base + "/validate-pin", deep);
  const auto hashed = test::http_request(serve.port, "POST", url.substr(base.size()),
                                         with({{"X-Twilio-Signature", twilio::compute_signature(token, url, {})}}),
                                         deep);
  CHECK(hashed.status == 400);
  CHECK_THAT(json::parse(hashed.body).at("message").get<std::string>(), Catch::Contains("nested deeper"));

  // Still alive and still answering.
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
  CHECK(post_json(serve.port, "/validate-pin", {{"pin", "1234"}, {"callerId", "+1888"}}, {{"X-Twilio-Signature", sig}})
            .status == 200);
}

// Twilio signs a JSON array as its key once per element, so a 64 KiB body could name 400 MB of
// signed parameters (one 20,000-byte key over 20,000 elements), all built and hashed before the
// signature is known good: half a second and 1 GB of RSS a request before the bound. And a body
// of many tiny values costs a DOM, a sort and a hash per URL variant (~14 ms for 50 KB of nested
// arrays): its values are counted before it is parsed.
TEST_CASE("a JSON body of too many values, or whose arrays repeat a long key past twice its size, is refused before "
          "it is expanded",
          "[callers][bad-input][signature]") {
  const std::string& token = test::secrets::auth_token;
  auto serve = test::start_serve({"--validate-signatures", "--pins-file", demo_pins}, {{"TWILIO_AUTH_TOKEN", token}});
  const std::string base = "https://127.0.0.1:" + std::to_string(serve.port);
  const std::map<std::string, std::string> json_type{{"Content-Type", "application/json"}};
  const auto zeros = [](int n) {
    std::string elements = "0";
    for (int i = 1; i < n; ++i) elements += ",0";
    return elements;
  };
  const std::string long_key = R"({"pin":"1234","callerId":"+1888",")" + std::string(20'000, 'k') + R"(":[)" +
                               zeros(4'000) + "]}";
  std::string nested_arrays = R"({"pin":"1234","callerId":"+1888","a":[)";
  while (nested_arrays.size() < 50'000) nested_arrays += "[0,0],";
  nested_arrays += "[0]]}";
  REQUIRE(long_key.size() < 64 * 1024);  // within the default --max-body-bytes
  REQUIRE(nested_arrays.size() < 64 * 1024);
  const auto rss_before = test::rss_kib(serve.process->pid());

  auto headers = json_type;
  headers["X-Twilio-Signature"] = twilio::compute_signature(token, base + "/validate-pin", {{"pin", "1234"}});
  for (int i = 0; i < 4; ++i) {
    const auto refused = test::http_request(serve.port, "POST", "/validate-pin", headers, long_key);
    CHECK(refused.status == 400);
    CHECK_THAT(json::parse(refused.body).at("message").get<std::string>(),
               Catch::Contains("JSON arrays expand to more than " + std::to_string(2 * long_key.size()) +
                               " bytes of signed parameters"));
    const auto many = test::http_request(serve.port, "POST", "/validate-pin", headers, nested_arrays);
    CHECK(many.status == 400);
    CHECK_THAT(json::parse(many.body).at("message").get<std::string>(),
               Catch::Contains("more than 4096 JSON values to check as signed parameters"));
  }
  const auto rss_after = test::rss_kib(serve.process->pid());
  INFO("serve's RSS before " << rss_before << " KiB, after " << rss_after << " KiB");
  CHECK(rss_after - rss_before < 64 * 1024);

  // Arrays within the bound are still signed as Twilio signs them.
  const json tagged{{"pin", "1234"}, {"callerId", "+1888"}, {"tags", json(std::vector<int>(1000, 7))}};
  twilio::RequestParams signed_params{{"pin", "1234"}, {"callerId", "+1888"}};
  for (int i = 0; i < 1000; ++i) signed_params.emplace_back("tags", "7");
  auto tagged_headers = json_type;
  tagged_headers["X-Twilio-Signature"] = twilio::compute_signature(token, base + "/validate-pin", signed_params);
  CHECK(test::http_request(serve.port, "POST", "/validate-pin", tagged_headers, tagged.dump()).status == 200);

  // Past twice a small body but within the 16 KiB floor: signed as Twilio signs it.
  const std::string key(100, 'k');
  const json wide{{"pin", "1234"}, {"callerId", "+1888"}, {key, json(std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9})}};
  twilio::RequestParams wide_params{{"pin", "1234"}, {"callerId", "+1888"}};
  for (int i = 1; i <= 9; ++i) wide_params.emplace_back(key, std::to_string(i));
  std::size_t expansion = 0;
  for (const auto& [k, v] : wide_params) expansion += k.size() + v.size();
  REQUIRE(expansion > 2 * wide.dump().size());
  auto wide_headers = json_type;
  wide_headers["X-Twilio-Signature"] = twilio::compute_signature(token, base + "/validate-pin", wide_params);
  CHECK(test::http_request(serve.port, "POST", "/validate-pin", wide_headers, wide.dump()).status == 200);
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
}

TEST_CASE("client mistakes get 4xx with a message, never a 5xx", "[callers][bad-input]") {
  auto serve = test::start_serve({"--pins-file", demo_pins});
  const std::pair<std::string, const char*> bodies[] = {
      {"{not json", "JSON object"},
      {"[]", "JSON object"},
      {R"({"pin":"1"})", "'callerId' is missing"},
      {R"({"pin":1234,"callerId":"+1"})", "'pin' must be a string"},
      {R"({"pin":"1","callerId":["+1"]})", "'callerId' must be a string"},
  };
  for (const auto& [text, message] : bodies) {
    INFO(text);
    const auto r = test::http_request(serve.port, "POST", "/validate-pin", {{"Content-Type", "application/json"}},
                                      text);
    CHECK(r.status == 400);
    CHECK_THAT(json::parse(r.body).at("message").get<std::string>(), Catch::Contains(message));
  }
  CHECK(test::http_request(serve.port, "POST", "/validate-pin", {}, std::string(70000, 'x')).status == 413);
  // Identifiers are capped wherever they come from: a body or a path.
  const auto long_id = post_json(serve.port, "/validate-pin",
                                 {{"pin", "1"}, {"callerId", "+" + std::string(128, '1')}});
  CHECK(long_id.status == 400);
  CHECK(json::parse(long_id.body).at("message") == "field 'callerId' is longer than 128 bytes");
  CHECK(post_json(serve.port, "/validate-pin", {{"pin", std::string(65, '1')}, {"callerId", "+1"}}).status == 400);
  const auto long_path = test::http_request(serve.port, "GET", "/blocked-callers/" + std::string(129, '1'));
  CHECK(long_path.status == 400);
  CHECK_THAT(json::parse(long_path.body).at("message").get<std::string>(), Catch::Contains("longer than 128 bytes"));
  CHECK(test::http_request(serve.port, "GET", "/executions/" + std::string(129, 'F') + "/connected").status == 400);
  CHECK(test::http_request(serve.port, "GET", "/validate-pin").status == 405);
  CHECK(test::http_request(serve.port, "PUT", "/blocked-callers/+1").status == 405);
  CHECK(test::http_request(serve.port, "GET", "/nothing-here").status == 404);
}

TEST_CASE("rotating caller IDs spends the global budget and then even the right PIN is refused", "[callers][budget]") {
  auto serve = test::start_serve(
      {"--pins-file", demo_pins, "--pin-failures-global", "5", "--pin-failures-per-source", "0", "--debug-routes"});
  // Five guesses, each under a fresh caller ID: no caller ever gets near its own limit.
  for (int i = 0; i < 5; ++i) {
    const auto guess = post_json(serve.port, "/validate-pin",
                                 {{"pin", std::to_string(1000 + i)}, {"callerId", "+1555000" + std::to_string(i)}});
    REQUIRE(guess.status == 200);
    CHECK(json::parse(guess.body).at("attempts").at("attempts") == 1);
  }
  // Spent: the right PIN is answered as a wrong one (the shape Studio handles), unchecked.
  for (const auto* caller : {"+15559999", "+15559998", "+15559999"}) {
    const auto refused = post_json(serve.port, "/validate-pin", {{"pin", "1234"}, {"callerId", caller}});
    CHECK(refused.status == 200);
    CHECK(json::parse(refused.body) == json{{"authenticated", false},
                                            {"attempts", {{"id", caller}, {"attempts", 0}, {"blocked", false}}},
                                            {"blocked", false}});
  }
  // Nothing was counted against those callers: nothing says they guessed.
  CHECK(test::http_request(serve.port, "GET", "/auth-attempts/+15559999").status == 404);

  const auto metrics = test::http_request(serve.port, "GET", "/metrics").body;
  CHECK_THAT(metrics, Catch::Contains("callproxy_pin_checks_refused_total{budget=\"global\"} 3"));
  CHECK_THAT(metrics, Catch::Contains("callproxy_pin_checks_refused_total{budget=\"source\"} 0"));
  // One log line when the budget trips, not one per refusal (SIGHUP logs a line after them all).
  serve.process->wait_for_stderr("PIN failure budget spent");
  serve.process->signal(SIGHUP);
  serve.process->wait_for_stderr("reloaded");
  const auto log = serve.process->err();
  const auto first = log.find("PIN failure budget spent");
  CHECK(log.find("PIN failure budget spent", first + 1) == std::string::npos);
}

TEST_CASE("one source address spends its own budget and other addresses or signed requests are not held by it",
          "[callers][budget]") {
  auto serve = test::start_serve(
      {"--pins-file", demo_pins, "--pin-failures-per-source", "3", "--pin-failures-global", "100"});
  for (int i = 0; i < 3; ++i) {
    const auto guess = post_json(serve.port, "/validate-pin",
                                 {{"pin", "0000"}, {"callerId", "+1666000" + std::to_string(i)}});
    CHECK(json::parse(guess.body).at("authenticated") == false);
  }
  const auto refused = post_json(serve.port, "/validate-pin", {{"pin", "1234"}, {"callerId", "+16660009"}});
  CHECK(refused.status == 200);
  CHECK(json::parse(refused.body).at("authenticated") == false);
  // Another address (another machine) is not held by the first one's guesses.
  const auto elsewhere = test::http_request_from("127.0.0.2", serve.port, "POST", "/validate-pin",
                                                 {{"Content-Type", "application/json"}},
                                                 json{{"pin", "1234"}, {"callerId", "+16660009"}}.dump());
  CHECK(json::parse(elsewhere.body).at("authenticated") == true);
  const auto metrics = test::http_request(serve.port, "GET", "/metrics").body;
  CHECK_THAT(metrics, Catch::Contains("callproxy_pin_checks_refused_total{budget=\"source\"} 1"));
  CHECK_THAT(metrics, Catch::Contains("callproxy_pin_checks_refused_total{budget=\"global\"} 0"));
  CHECK_THAT(serve.process->wait_for_stderr("PIN failure budget spent by"), Catch::Contains("127.0.0.1"));

  // With signatures checked every request comes from Twilio: no per-source budget.
  const std::string& token = test::secrets::auth_token;
  auto signed_serve = test::start_serve(
      {"--validate-signatures", "--pins-file", demo_pins, "--pin-failures-per-source", "1"},
      {{"TWILIO_AUTH_TOKEN", token}});
  const std::string url = "https://127.0.0.1:" + std::to_string(signed_serve.port) + "/validate-pin";
  auto signed_check = [&](const std::string& pin, const std::string& caller) {
    const auto sig = twilio::compute_signature(token, url, {{"pin", pin}, {"callerId", caller}});
    const auto r = post_json(signed_serve.port, "/validate-pin", {{"pin", pin}, {"callerId", caller}},
                             {{"X-Twilio-Signature", sig}});
    REQUIRE(r.status == 200);
    return json::parse(r.body).at("authenticated").get<bool>();
  };
  for (int i = 0; i < 3; ++i) CHECK_FALSE(signed_check("0000", "+1777000" + std::to_string(i)));
  CHECK(signed_check("1234", "+17770009"));
}

TEST_CASE("a caller blocked as +15557654321 is refused under every spelling of that number", "[callers][caller-id]") {
  auto serve = test::start_serve({"--pins-file", demo_pins, "--debug-routes"},
                                 {{"SERVER_API_KEY", test::secrets::api_key}});
  REQUIRE(
      test::http_request(serve.port, "POST", "/blocked-callers/%2B15557654321", {{"apiKey", test::secrets::api_key}})
          .status == 201);
  const std::vector<std::string> spellings{
      "+15557654321", "15557654321", "+1 5557654321", "+1-555-765-4321", "+1 (555) 765-4321", "(1) 555.765.4321",
      "  +15557654321  ",
      // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one string in two lines
      "\xEF\xBC\x8B\xEF\xBC\x91\xEF\xBC\x95\xEF\xBC\x95\xEF\xBC\x95\xEF\xBC\x97\xEF\xBC\x96"
      "\xEF\xBC\x95\xEF\xBC\x94\xEF\xBC\x93\xEF\xBC\x92\xEF\xBC\x91",  // "＋１５５５７６５４３２１"
  };
  for (const auto& spelling : spellings) {
    INFO(spelling);
    const auto r = json::parse(post_json(serve.port, "/validate-pin", {{"pin", "1234"}, {"callerId", spelling}}).body);
    CHECK(r.at("authenticated") == false);
    CHECK(r.at("blocked") == true);
    CHECK(r.at("attempts").at("id") == "+15557654321");
    // The path routes find the same record.
    const auto found = test::http_request(serve.port, "GET",
                                          "/blocked-callers/" + twilio::percent_encode(spelling, "-_.~"));
    CHECK(found.status == 200);
    CHECK(json::parse(found.body).at("id") == "+15557654321");
  }
  // Failures counted under one spelling are the same caller's under another.
  CHECK(test::http_request(serve.port, "POST", "/auth-attempts/1%20(555)%20123-0000",
                           {{"apiKey", test::secrets::api_key}})
            .status == 201);
  CHECK(json::parse(test::http_request(serve.port, "GET", "/auth-attempts/%2B15551230000").body) ==
        json{{"attempts", 1}});
  // An unblock in any spelling lifts the block.
  CHECK(
      test::http_request(serve.port, "DELETE", "/blocked-callers/1-555-765-4321", {{"apiKey", test::secrets::api_key}})
          .status == 204);
  CHECK(json::parse(post_json(serve.port, "/validate-pin", {{"pin", "1234"}, {"callerId", "+15557654321"}}).body)
            .at("authenticated") == true);
  // Other IDs are not digits: kept as sent, whitespace aside.
  REQUIRE(test::http_request(serve.port, "POST", "/blocked-callers/client:alice", {{"apiKey", test::secrets::api_key}})
              .status == 201);
  CHECK(json::parse(post_json(serve.port, "/validate-pin", {{"pin", "1234"}, {"callerId", " client:alice "}}).body)
            .at("blocked") == true);
}

TEST_CASE("with SQLite, blocks and attempts survive a restart and kill -9", "[callers][store]") {
  const auto db = test::temp_path("persist.db");
  {
    auto serve = test::start_serve({"--store", "sqlite:" + db, "--attempts-allowed", "1"});
    post_json(serve.port, "/validate-pin", {{"pin", "0"}, {"callerId", "+1999"}});
    post_json(serve.port, "/validate-pin", {{"pin", "0"}, {"callerId", "+1999"}});  // blocked
    post_json(serve.port, "/validate-pin", {{"pin", "0"}, {"callerId", "+1998"}});  // one attempt
    serve.process->signal(SIGKILL);
    serve.process->wait();
  }
  {
    auto serve = test::start_serve({"--store", "sqlite:" + db, "--attempts-allowed", "1"});
    CHECK(test::http_request(serve.port, "GET", "/blocked-callers/+1999").status == 200);
    // The attempt from before the kill still counts: this second one blocks.
    const auto again = json::parse(post_json(serve.port, "/validate-pin", {{"pin", "0"}, {"callerId", "+1998"}}).body);
    CHECK(again.at("attempts").at("attempts") == 2);
    CHECK(again.at("blocked") == true);
    serve.process->signal(SIGTERM);
    CHECK(serve.process->wait() == 0);
  }
  {
    auto serve = test::start_serve({"--store", "sqlite:" + db});
    CHECK(test::http_request(serve.port, "GET", "/blocked-callers/+1999").status == 200);
    CHECK(test::http_request(serve.port, "GET", "/blocked-callers/+1998").status == 200);
  }
  std::remove(db.c_str());
  std::remove((db + "-wal").c_str());
  std::remove((db + "-shm").c_str());
}

TEST_CASE("the pins file reloads on SIGHUP, and a bad reload keeps the old PINs", "[callers][pins]") {
  const auto path = write_file("pins.json", R"([{"pin":"1111","backendHosts":["a:1"]}])");
  auto serve = test::start_serve({"--pins-file", path});
  auto check = [&](const char* pin) {
    return json::parse(post_json(serve.port, "/validate-pin", {{"pin", pin}, {"callerId", "+1"}}).body)
        .at("authenticated")
        .get<bool>();
  };
  CHECK(check("1111"));
  std::ofstream(path) << R"([{"pin":"2222","backendHosts":["b:2"]}])";
  serve.process->signal(SIGHUP);
  serve.process->wait_for_stderr("reloaded");
  CHECK(check("2222"));
  CHECK_FALSE(check("1111"));
  std::ofstream(path) << R"([{"pin":)";
  serve.process->signal(SIGHUP);
  serve.process->wait_for_stderr("keeping the 1 entries in use");
  CHECK(check("2222"));
  std::remove(path.c_str());
}

// Found by fuzzing (tests/fuzz/fuzz_pins_file.cpp): a number too large for a double made the JSON
// parser throw out_of_range, which parse_pins did not catch: serve died on a SIGHUP reload.
TEST_CASE("a pins file with a number out of range is refused, and a reload of one keeps the PINs",
          "[callers][pins][fuzz]") {
  for (const auto* text : {R"([{"pin":"1","backendIds":[1e400]}])", "2e6666", R"([{"pin":"1","x":-1e999}])"}) {
    INFO(text);
    const auto parsed = proxy::parse_pins(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.error(), Catch::Contains("not valid JSON") && Catch::Contains("number overflow"));
  }
  const auto path = write_file("pins-overflow.json", R"([{"pin":"1111","backendHosts":["a:1"]}])");
  auto serve = test::start_serve({"--pins-file", path});
  std::ofstream(path) << R"([{"pin":"2222","backendIds":[1e400]}])";
  serve.process->signal(SIGHUP);
  serve.process->wait_for_stderr("keeping the 1 entries in use");
  const auto answer = post_json(serve.port, "/validate-pin", {{"pin", "1111"}, {"callerId", "+1"}});
  CHECK(json::parse(answer.body).at("authenticated") == true);
  std::remove(path.c_str());
}

TEST_CASE("a bad pins file stops serve at start with the entry named", "[callers][pins]") {
  const auto path = write_file("bad-pins.json", R"([{"pin":"1"},{"pin":"2","backendHosts":["nope:"]}])");
  const auto r = test::run_command(
      test::callproxy_args({"serve", "--port", "0", "--store", "memory", "--pins-file", path}));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("entry 2") != std::string::npos);
  std::remove(path.c_str());
}

TEST_CASE("the identity API: yes routes, 4xx is a wrong PIN, 5xx/slow/garbage is 502 and not counted",
          "[callers][pin-api]") {
  auto ask = [](const std::string& api, const std::string& caller, std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--pin-api", api, "--pin-api-timeout-ms", "300"});
    auto serve = test::start_serve(extra);
    const auto r = post_json(serve.port, "/validate-pin", {{"pin", test::secrets::pin}, {"callerId", caller}});
    return std::pair{r, serve.process->err()};
  };
  {
    test::CannedHttpServer api(200, R"({"authenticated":true,"backendIds":[7],"backendHosts":["10.0.0.7:8900"]})");
    const auto [r, log] = ask(api.base_url() + "/", "+1");
    CHECK(r.status == 200);
    CHECK(json::parse(r.body) ==
          json{{"authenticated", true}, {"backendIds", "[7]"}, {"backendHosts", R"(["10.0.0.7:8900"])"}});
    REQUIRE(api.requests().size() == 1);
    CHECK(api.requests()[0].rfind("POST /identity-api/pin HTTP/1.1", 0) == 0);
    CHECK(api.requests()[0].find(R"({"pin":")" + test::secrets::pin + "\"}") != std::string::npos);
  }
  {
    test::CannedHttpServer api(401, R"({"error":"no"})");
    const auto [r, log] = ask(api.base_url(), "+2");
    CHECK(r.status == 200);
    CHECK(json::parse(r.body).at("attempts").at("attempts") == 1);
  }
  for (const auto& [status, body, delay] : std::vector<std::tuple<int, std::string, int>>{
           {500, "{}", 0},
           {200, "not json", 0},
           {200, R"({"authenticated":true})", 2000},
           {200, R"({"authenticated":true,"backendIds":)" + std::string(30'000, '[') + std::string(30'000, ']') + "}",
            0}}) {
    INFO(status << " " << body.substr(0, 80) << " " << delay);
    test::CannedHttpServer api(status, body, std::chrono::milliseconds(delay));
    auto serve = test::start_serve({"--pin-api", api.base_url(), "--pin-api-timeout-ms", "300", "--debug-routes"});
    const auto r = post_json(serve.port, "/validate-pin", {{"pin", test::secrets::pin}, {"callerId", "+3"}});
    CHECK(r.status == 502);
    CHECK(json::parse(r.body).at("message").get<std::string>().find("PIN check unavailable") == 0);
    CHECK(test::http_request(serve.port, "GET", "/auth-attempts/+3").status == 404);  // not counted
  }
  // Nobody listening: unavailable too.
  const unsigned short closed = [] {
    test::CannedHttpServer gone(200, "{}");
    return gone.port();
  }();
  auto serve = test::start_serve({"--pin-api", "http://127.0.0.1:" + std::to_string(closed)});
  CHECK(post_json(serve.port, "/validate-pin", {{"pin", "1"}, {"callerId", "+4"}}).status == 502);
}

TEST_CASE("two serve instances on one Redis see each other's blocks, attempts and executions", "[callers][redis]") {
  test::RedisServer redis;
  test::BackendServer backend;
  auto a = test::start_serve({"--store", redis.url(1), "--attempts-allowed", "2"});
  auto b = test::start_serve({"--store", redis.url(1), "--attempts-allowed", "2", "--debug-routes"});
  post_json(a.port, "/validate-pin", {{"pin", "0"}, {"callerId", "+1200"}});
  const auto second = json::parse(post_json(b.port, "/validate-pin", {{"pin", "0"}, {"callerId", "+1200"}}).body);
  CHECK(second.at("attempts").at("attempts") == 2);  // the first was counted on the other instance
  post_json(a.port, "/validate-pin", {{"pin", "0"}, {"callerId", "+1200"}});
  CHECK(test::http_request(b.port, "GET", "/blocked-callers/+1200").status == 200);
  CHECK(json::parse(test::http_request(b.port, "GET", "/auth-attempts/+1200").body).at("attempts") == 3);

  // An execution streaming through A is connected as far as B can tell.
  {
    test::WsClient call(a.port, "/media");
    call.send_text(R"({"event":"connected","protocol":"Call","version":"1.0.0"})");
    call.send_text(
        R"({"event":"start","sequenceNumber":"1","streamSid":"MZ1","start":{"streamSid":"MZ1","callSid":"CA1",)"
        R"("tracks":["inbound"],"customParameters":{"executionId":"FN77","backendHosts":"[\")" +
        backend.host_port() + R"(\"]"}}})");
    REQUIRE(backend.wait_for_messages(1));
    CHECK(test::eventually(
        [&] { return test::http_request(b.port, "GET", "/executions/FN77/connected").status == 200; }));
  }
  CHECK(
      test::eventually([&] { return test::http_request(b.port, "GET", "/executions/FN77/connected").status == 410; }));
}

TEST_CASE("when Redis goes away routes answer 503, calls keep streaming, and it comes back by itself",
          "[callers][redis]") {
  test::RedisServer redis;
  test::BackendServer backend;
  auto serve = test::start_serve({"--store", redis.url(), "--pins-file", demo_pins});
  CHECK(json::parse(post_json(serve.port, "/validate-pin", {{"pin", "1234"}, {"callerId", "+1"}}).body)
            .at("authenticated") == true);

  test::WsClient call(serve.port, "/media");
  call.send_text(R"({"event":"start","sequenceNumber":"1","start":{"streamSid":"MZ9","callSid":"CA9",)"
                 R"("customParameters":{"executionId":"FN9","backendHosts":"[\")" +
                 backend.host_port() + R"(\"]"}}})");
  REQUIRE(backend.wait_for_messages(1));

  redis.stop();
  const auto down = post_json(serve.port, "/validate-pin", {{"pin", "1234"}, {"callerId", "+1"}});
  CHECK(down.status == 503);
  CHECK(json::parse(down.body).at("message") == "state store unavailable, try again later");
  // The call does not notice.
  for (int i = 0; i < 5; ++i) {
    call.send_text(R"({"event":"media","sequenceNumber":")" + std::to_string(i + 2) +
                   R"(","media":{"payload":"AAAA"}})");
  }
  CHECK(backend.wait_for_messages(6));

  redis.start();
  CHECK(test::eventually([&] {
    return post_json(serve.port, "/validate-pin", {{"pin", "1234"}, {"callerId", "+1"}}).status == 200;
  }));
  CHECK_NOTHROW(serve.process->wait_for_stderr("is back", std::chrono::seconds(10)));
}

TEST_CASE("REMOTE_CACHE_ENABLED and REDIS_HOST select Redis as the Node service did", "[callers][redis]") {
  test::RedisServer redis;
  // Without --store (start_serve would add one), as a Node deployment's environment has it.
  test::ChildProcess node_style(
      test::callproxy_args({"serve", "--bind", "127.0.0.1", "--port", "0"}),
      {{"REMOTE_CACHE_ENABLED", "true"}, {"REDIS_HOST", "127.0.0.1:" + std::to_string(redis.port())}});
  const auto line = node_style.wait_for_stderr("state store:");
  CHECK(line.find("redis://127.0.0.1:" + std::to_string(redis.port())) != std::string::npos);
}

TEST_CASE("a Redis that stops answering is given up on in seconds, not left hanging", "[callers][redis]") {
  test::RedisServer redis;
  auto serve = test::start_serve({"--store", redis.url(), "--debug-routes"});
  CHECK(test::http_request(serve.port, "POST", "/auth-attempts/+1").status == 201);
  redis.pause();
  // The store gives up after its 2 s deadline; a hang would leave the test client's 10 s read
  // with no answer at all, and this would fail.
  const auto hung = test::http_request(serve.port, "POST", "/auth-attempts/+1");
  CHECK(hung.status == 503);
  redis.resume();
  CHECK(test::eventually([&] { return test::http_request(serve.port, "POST", "/auth-attempts/+1").status == 201; }));
}
