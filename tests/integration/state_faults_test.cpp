// serve when its state or its network misbehaves: a locked, read-only or full SQLite file, Redis
// killed and restarted, serve itself killed mid-burst, a DNS server that never answers, and two
// streams naming one execution. The real binary, bounded in time.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "support/child_process.h"
#include "support/http_client.h"
#include "support/redis_server.h"
#include "support/wait.h"
#include "support/ws_peer.h"
#include "test_data.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;
using test::eventually;

namespace {

using Clock = std::chrono::steady_clock;

const std::string demo_pins = std::string(CALLPROXY_ASSETS) + "/demo-pins.json";

// PIN budgets off: these tests send more failures than a budget lets through.
const std::vector<std::string> no_budgets{"--pin-failures-global", "0", "--pin-failures-per-source", "0"};

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

test::HttpReply validate_pin(unsigned short port, const std::string& pin, const std::string& caller) {
  return test::http_request(port, "POST", "/validate-pin", {{"Content-Type", "application/json"}},
                            json{{"pin", pin}, {"callerId", caller}}.dump());
}

int execution_status(unsigned short port, const std::string& id) {
  return test::http_request(port, "GET", "/executions/" + id + "/connected").status;
}

// Twilio's side of a call naming `execution` and its backends.
void start_call(test::WsClient& call, const std::string& stream, const std::string& execution,
                const std::vector<std::string>& backends) {
  json hosts = json::array();
  for (const auto& b : backends) hosts.push_back(b);
  call.send_text(json{{"event", "start"},
                      {"sequenceNumber", "1"},
                      {"start",
                       {{"streamSid", stream},
                        {"callSid", "CA" + stream},
                        {"tracks", {"inbound"}},
                        {"customParameters", {{"executionId", execution}, {"backendHosts", hosts.dump()}}}}}}
                     .dump());
}

void send_media(test::WsClient& call, int sequence) {
  call.send_text(R"({"event":"media","sequenceNumber":")" + std::to_string(sequence) +
                 R"(","media":{"payload":"AAAA"}})");
}

// A SQLite path (in `dir` when given) removed with its WAL and shared-memory files.
struct TempDatabase {
  explicit TempDatabase(std::string p = test::temp_path("state.db")) : path(std::move(p)) {}
  ~TempDatabase() {
    for (const auto* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
  std::string path;
};

// A temporary directory, removed with what is in it.
struct TempDir {
  TempDir() : path(test::temp_path("dir")) { std::filesystem::create_directories(path); }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::string path;
};

// Another process's connection to the file, holding its write lock until released.
class WriteLock {
 public:
  explicit WriteLock(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("cannot open " + path);
    if (sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("cannot lock: ") + sqlite3_errmsg(db_));
    }
  }
  ~WriteLock() {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace

TEST_CASE("with the SQLite file locked, PIN checks beyond the store queue answer 503 at once and executions answer",
          "[store][sqlite][faults]") {
  TempDatabase db;
  test::BackendServer backend;
  // A PIN check is two store operations (read, then the failure's write), each bounded by the
  // store's 5 s: --request-timeout is what bounds the whole request, well inside the client's 10 s.
  auto serve = test::start_serve(with(
      {"--store", "sqlite:" + db.path, "--store-max-queue", "8", "--pins-file", demo_pins, "--request-timeout", "4"},
      no_budgets));
  test::WsClient call(serve.port);
  start_call(call, "MZ1", "FN1", {backend.host_port()});
  REQUIRE(backend.wait_for_messages(1));
  REQUIRE(eventually([&] { return execution_status(serve.port, "FN1") == 200; }));

  std::optional<WriteLock> lock(db.path);
  // Forty wrong PINs at once: each would wait for the lock.
  struct Answer {
    int status;
    Clock::duration took;
  };
  std::vector<std::future<Answer>> flood;
  for (int i = 0; i < 40; ++i) {
    flood.push_back(std::async(std::launch::async, [&, i] {
      const auto sent = Clock::now();
      const auto r = validate_pin(serve.port, "0000", "+1555000" + std::to_string(100 + i));
      return Answer{r.status, Clock::now() - sent};
    }));
  }
  // Once the queue is full (a 503 came back), the executions still answer, and at once.
  const bool refused = eventually(
      [&] {
        for (auto& f : flood) {
          if (f.wait_for(0s) == std::future_status::ready) return true;
        }
        return false;
      },
      3s, 5ms);
  const auto asked = Clock::now();
  const auto status = execution_status(serve.port, "FN1");
  const auto took = Clock::now() - asked;
  CHECK(refused);
  CHECK(status == 200);
  CHECK(took < 1s);

  int prompt_503 = 0;
  for (auto& f : flood) {
    REQUIRE(f.wait_for(20s) == std::future_status::ready);
    const auto answer = f.get();
    CHECK((answer.status == 503 || answer.status == 200));
    if (answer.status == 503 && answer.took < 2s) ++prompt_503;
  }
  // At most the queue (8) and the one operation under way waited for the lock.
  CHECK(prompt_503 >= 40 - 8 - 1);

  lock.reset();
  CHECK(eventually([&] { return validate_pin(serve.port, "0000", "+15550009999").status == 200; }));
  CHECK(execution_status(serve.port, "FN1") == 200);
  CHECK(::kill(serve.process->pid(), 0) == 0);
}

TEST_CASE("a stream that ends leaves alone the mark of a live stream naming the same execution",
          "[media][executions][store]") {
  test::RedisServer redis;
  TempDatabase db;
  for (const std::vector<std::string>& store : {std::vector<std::string>{"--store", "memory"},
                                                {"--store", "sqlite:" + db.path},
                                                {"--store", redis.url(1)},
                                                {"--store", redis.url(2), "--redis-keys", "callproxy"}}) {
    INFO(store.at(1));
    test::BackendServer backend;
    auto serve = test::start_serve(store);
    test::WsClient first(serve.port);
    start_call(first, "MZA", "FN6", {backend.host_port()});
    REQUIRE(backend.wait_for_messages(1, 0));
    REQUIRE(eventually([&] { return execution_status(serve.port, "FN6") == 200; }));
    // A second stream for the same execution (a restarted Stream widget, say).
    test::WsClient second(serve.port);
    start_call(second, "MZB", "FN6", {backend.host_port()});
    REQUIRE(backend.wait_for_messages(1, 1));

    // The first ends: its backend link closes after the call let go of its mark.
    first.close();
    REQUIRE(backend.wait_closed(0));
    CHECK(execution_status(serve.port, "FN6") == 200);
    send_media(second, 2);
    REQUIRE(backend.wait_for_messages(2, 1));
    CHECK(execution_status(serve.port, "FN6") == 200);

    // The second, the owner now, ends: the mark goes.
    second.close();
    CHECK(eventually([&] { return execution_status(serve.port, "FN6") == 410; }));
  }
}

TEST_CASE("a backend name the DNS never answers holds up no other backend and gives up within the connect timeout",
          "[media][dns][faults]") {
  if (!test::can_use_mount_namespaces()) {
    WARN("skipped: needs root and unshare for a private /etc/resolv.conf");
    return;
  }
  // A name server on loopback that reads every query and answers none.
  const int dns = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(dns >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(53);
  ::inet_pton(AF_INET, "127.0.0.153", &addr.sin_addr);
  REQUIRE(::bind(dns, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::atomic<int> queries{0};
  std::atomic<bool> done{false};
  std::thread silent([&] {
    char buffer[512];
    while (!done) {
      timeval wait{0, 100'000};
      ::setsockopt(dns, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
      if (::recv(dns, buffer, sizeof buffer, 0) > 0) ++queries;
    }
  });
  const auto resolv = test::temp_path("resolv.conf");
  std::ofstream(resolv) << "nameserver 127.0.0.153\noptions timeout:5 attempts:2\n";

  test::BackendServer backend;
  auto serve = test::start_serve({"--backend-connect-timeout", "2"}, {},
                                 test::in_private_mount_namespace("mount --bind " + resolv + " /etc/resolv.conf"));
  test::WsClient call(serve.port);
  // The silent name first: its lookup starts before the others'.
  const auto started = Clock::now();
  start_call(call, "MZD", "FND",
             {"silent-backend.invalid:9000", backend.host_port(), "localhost:" + std::to_string(backend.port())});
  send_media(call, 2);
  // Both others are reached at once, well inside the slow one's connect timeout.
  CHECK(backend.wait_for_messages(2, 0, 1500ms));
  CHECK(backend.wait_for_messages(2, 1, 1500ms));
  CHECK(Clock::now() - started < 1500ms);
  // The silent one is given up on at its deadline (2 s), not at the resolver's (10 s).
  CHECK_NOTHROW(serve.process->wait_for_stderr("cannot resolve silent-backend.invalid", 3500ms));
  CHECK(Clock::now() - started < 4s);
  CHECK(queries > 0);  // the lookup did go to the silent server
  // The call goes on with the backends it has.
  send_media(call, 3);
  CHECK(backend.wait_for_messages(3, 0));

  done = true;
  silent.join();
  ::close(dns);
  std::remove(resolv.c_str());
}

TEST_CASE("Redis killed mid-call and mid-PIN-check: the call goes on, the check says 503, both recover",
          "[store][redis][faults]") {
  test::RedisServer redis;
  test::BackendServer backend;
  auto serve = test::start_serve({"--store", redis.url(), "--pins-file", demo_pins});
  test::WsClient call(serve.port);
  start_call(call, "MZR", "FNR", {backend.host_port()});
  REQUIRE(backend.wait_for_messages(1));
  REQUIRE(eventually([&] { return execution_status(serve.port, "FNR") == 200; }));

  // A PIN check on its way while Redis hangs, and then dies.
  redis.pause();
  auto check = std::async(std::launch::async, [&] {
    const auto sent = Clock::now();
    auto r = validate_pin(serve.port, "1234", "+1");
    return std::pair{r, Clock::now() - sent};
  });
  redis.stop();
  const auto [answer, took] = check.get();
  CHECK(answer.status == 503);
  CHECK(json::parse(answer.body).at("message") == "state store unavailable, try again later");
  CHECK(took < 3s);

  // The call does not notice.
  for (int i = 0; i < 5; ++i) send_media(call, i + 2);
  CHECK(backend.wait_for_messages(6));

  // Redis back (empty: its data died with it): PIN checks work again, and the live call's mark
  // is written again by its next refresh.
  redis.start();
  CHECK(eventually([&] { return validate_pin(serve.port, "1234", "+1").status == 200; }));
  CHECK(eventually([&] { return execution_status(serve.port, "FNR") == 200; }));
  send_media(call, 7);
  CHECK(backend.wait_for_messages(7));
}

TEST_CASE("a read-only SQLite file: reads answer, writes answer 503 with a clear error, calls and marks work",
          "[store][sqlite][faults]") {
  TempDir dir;
  const auto db = dir.path + "/state.db";
  {
    // A file with a block in it, left as a killed serve leaves it (with its WAL and shared memory).
    auto serve = test::start_serve({"--store", "sqlite:" + db, "--debug-routes"});
    REQUIRE(test::http_request(serve.port, "POST", "/blocked-callers/+1777").status == 201);
    serve.process->signal(SIGKILL);
    serve.process->wait();
  }
  std::vector<std::string> launcher;
  if (test::can_use_mount_namespaces()) {
    // Root writes through file modes: the directory is mounted read-only instead.
    launcher = test::in_private_mount_namespace("mount --bind " + dir.path + " " + dir.path +
                                                " && mount -o remount,bind,ro " + dir.path);
  } else {
    ::chmod(db.c_str(), 0400);
  }
  test::BackendServer backend;
  auto serve = test::start_serve(with({"--store", "sqlite:" + db, "--pins-file", demo_pins}, no_budgets), {}, launcher);
  CHECK_NOTHROW(serve.process->wait_for_stderr("read-only"));
  CHECK(test::http_request(serve.port, "GET", "/blocked-callers/+1777").status == 200);
  const auto write = validate_pin(serve.port, "0000", "+1778");
  CHECK(write.status == 503);
  CHECK(json::parse(write.body).at("message") == "state store unavailable, try again later");
  CHECK_NOTHROW(serve.process->wait_for_stderr("readonly", std::chrono::seconds(10)));
  // Calls and their execution marks do not need the file.
  test::WsClient call(serve.port);
  start_call(call, "MZO", "FNO", {backend.host_port()});
  REQUIRE(backend.wait_for_messages(1));
  CHECK(eventually([&] { return execution_status(serve.port, "FNO") == 200; }));
  CHECK(::kill(serve.process->pid(), 0) == 0);
}

TEST_CASE("a full disk under SQLite: 503 with a clear error, no crash, and back once there is room",
          "[store][sqlite][faults]") {
  if (!test::can_use_mount_namespaces()) {
    WARN("skipped: needs root and unshare for a small tmpfs of its own");
    return;
  }
  TempDir dir;
  const auto db = dir.path + "/state.db";
  auto serve = test::start_serve(with({"--store", "sqlite:" + db, "--pins-file", demo_pins}, no_budgets), {},
                                 test::in_private_mount_namespace("mount -t tmpfs -o size=512k tmpfs " + dir.path));
  REQUIRE(validate_pin(serve.port, "0000", "+1900").status == 200);
  // Fill the disk serve sees (its mount namespace, through /proc).
  const auto filler = "/proc/" + std::to_string(serve.process->pid()) + "/root" + dir.path + "/filler";
  {
    std::ofstream out(filler, std::ios::binary);
    const std::string block(4096, 'x');
    while (out.write(block.data(), static_cast<std::streamsize>(block.size())) && out.flush()) {
    }
  }
  int full = 0;
  for (int i = 0; i < 20 && full == 0; ++i) {
    const auto r = validate_pin(serve.port, "0000", "+19" + std::to_string(100 + i) + std::string(100, '0'));
    if (r.status == 503) ++full;
    else CHECK(r.status == 200);  // a write that still found room in the WAL
  }
  CHECK(full == 1);
  // The line is written before the 503 is sent, but reaches this process through a pipe.
  CHECK_NOTHROW(serve.process->wait_for_stderr("full", std::chrono::seconds(10)));
  CHECK(::kill(serve.process->pid(), 0) == 0);
  std::remove(filler.c_str());
  CHECK(eventually([&] { return validate_pin(serve.port, "0000", "+1901").status == 200; }));
}

TEST_CASE("kill -9 during a burst of failed PINs: every acknowledged attempt and block survives a restart",
          "[store][sqlite][faults]") {
  TempDatabase db;
  const auto args = with(
      {"--store", "sqlite:" + db.path, "--pins-file", demo_pins, "--attempts-allowed", "3", "--debug-routes"},
      no_budgets);
  auto serve = test::start_serve(args);
  std::mutex mutex;
  std::map<std::string, int> acknowledged;  // caller -> attempts the last answer counted
  std::map<std::string, bool> blocked;      // caller -> an answer said blocked
  std::atomic<bool> stop{false};
  std::atomic<int> answers{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const auto caller = "+1666" + std::to_string(t) + std::to_string(i % 3);
        test::HttpReply r;
        try {
          r = validate_pin(serve.port, "0000", caller);
        } catch (const std::exception&) {
          return;  // serve is gone
        }
        if (r.status != 200) return;
        const auto body = json::parse(r.body);
        std::lock_guard lock(mutex);
        acknowledged[caller] = std::max(acknowledged[caller], body.at("attempts").at("attempts").get<int>());
        if (body.at("blocked").get<bool>()) blocked[caller] = true;
        ++answers;
      }
    });
  }
  REQUIRE(eventually([&] { return answers >= 80; }));
  serve.process->signal(SIGKILL);
  serve.process->wait();
  stop = true;
  for (auto& s : senders) s.join();

  auto again = test::start_serve(args);
  std::lock_guard lock(mutex);
  for (const auto& [caller, attempts] : acknowledged) {
    INFO(caller);
    const auto r = test::http_request(again.port, "GET", "/auth-attempts/" + caller);
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body).at("attempts").get<int>() >= attempts);
  }
  for (const auto& [caller, yes] : blocked) {
    INFO(caller);
    CHECK(test::http_request(again.port, "GET", "/blocked-callers/" + caller).status == 200);
  }
  CHECK(blocked.size() > 0);
}

TEST_CASE("a store that is down writes one line per reason, however many requests it answers 503", "[store][faults]") {
  test::RedisServer redis;
  auto serve = test::start_serve({"--store", redis.url(), "--pins-file", demo_pins});
  REQUIRE(validate_pin(serve.port, "1234", "+1").status == 200);
  redis.stop();
  constexpr int requests = 20;
  for (int i = 0; i < requests; ++i) {
    INFO("request " << i);
    CHECK(validate_pin(serve.port, "1234", "+1").status == 503);
  }
  // Each request's store line comes before its answer, its access line after: once every access
  // line is there, every store line that was written is too.
  const auto count = [&](const std::string& needle) {
    const auto err = serve.process->err();
    std::size_t n = 0;
    for (auto at = err.find(needle); at != std::string::npos; at = err.find(needle, at + 1)) ++n;
    return n;
  };
  REQUIRE(eventually([&] { return count("http: POST /validate-pin 503 ") == requests; }));
  INFO(serve.process->err());
  CHECK(count(" error state store: ") == 1);
}
