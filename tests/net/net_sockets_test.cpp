// The net room on real sockets in this process: TCP_NODELAY and delayed ACKs on what serve
// opens, and a listener out of descriptors. (Integration: loopback listeners; the room's unit
// tests are in net_test.cpp.)
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/tcp.h>

#include "net/client_connect.h"
#include "net/delayed_acks.h"
#include "net/endpoint.h"
#include "net/listener.h"
#include "net/loop_stream.h"

using namespace callproxy;
using namespace std::chrono_literals;

namespace {
int nodelay_of(int fd) {
  int value = -1;
  socklen_t size = sizeof value;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &size) != 0) return -1;
  return value;
}
}  // namespace

TEST_CASE("accepted and connected sockets send at once: TCP_NODELAY on both ends serve opens", "[net]") {
  boost::asio::io_context loop;
  net::Listener listener(loop, "test");
  const auto port = listener.listen("127.0.0.1", 0);
  int accepted = -1;
  std::vector<net::LoopSocket> kept;
  listener.start([&loop]() -> boost::asio::io_context& { return loop; },
                 [&](net::LoopSocket socket) {
                   accepted = nodelay_of(socket.native_handle());
                   kept.push_back(std::move(socket));
                 });
  net::LoopTcpStream client(loop.get_executor());
  net::Endpoint endpoint;
  endpoint.host = "127.0.0.1";
  endpoint.port = port;
  bool connected = false;
  std::optional<net::ConnectFailure> failure;
  net::async_connect_client(client, endpoint, 5s, nullptr, [&](std::optional<net::ConnectFailure> f) {
    failure = std::move(f);
    connected = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((!connected || accepted == -1) && std::chrono::steady_clock::now() < deadline) loop.run_one_for(100ms);
  REQUIRE(connected);
  REQUIRE_FALSE(failure);
  CHECK(nodelay_of(client.socket().native_handle()) == 1);
  CHECK(accepted == 1);
  listener.close();
}

TEST_CASE("prefer_delayed_acks puts a socket that acknowledged each segment into delayed ACKs", "[net]") {
  boost::asio::io_context loop;
  boost::asio::ip::tcp::acceptor acceptor(loop, {boost::asio::ip::make_address("127.0.0.1"), 0});
  boost::asio::ip::tcp::socket client(loop);
  client.connect(acceptor.local_endpoint());
  auto accepted = acceptor.accept();
  // A socket that has sent nothing acknowledges what it reads at once (not ping-pong mode).
  REQUIRE(net::acks_at_once(accepted.native_handle()));
  CHECK(net::prefer_delayed_acks(accepted.native_handle()));
  CHECK_FALSE(net::acks_at_once(accepted.native_handle()));
  // Not a TCP socket: refused, nothing else happens.
  int pipe_ends[2];
  REQUIRE(::pipe(pipe_ends) == 0);
  CHECK_FALSE(net::prefer_delayed_acks(pipe_ends[0]));
  ::close(pipe_ends[0]);
  ::close(pipe_ends[1]);
}

TEST_CASE("a listener out of descriptors neither spins nor gives up: it accepts once some are free", "[net][limits]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
  // The sanitizers' runtime needs descriptors of its own (UBSan opens a pipe to probe memory when it
  // checks a dynamic type), and this test takes every one away: it runs in the plain builds only.
  WARN("skipped under the sanitizers: it exhausts the descriptors their runtime needs");
  return;
#endif
  using namespace std::chrono_literals;
  boost::asio::io_context loop;
  net::Listener listener(loop, "test");
  const auto port = listener.listen("127.0.0.1", 0);
  std::atomic<int> accepted{0};
  std::vector<boost::asio::ip::tcp::socket> kept;
  listener.start([&loop]() -> boost::asio::io_context& { return loop; },
                 [&](boost::asio::ip::tcp::socket socket) {
                   kept.push_back(std::move(socket));
                   ++accepted;
                 });
  std::thread runner([&loop] { loop.run(); });

  // The soft limit lowered to what is open now plus a few, and those few used up.
  rlimit original{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &original) == 0);
  const auto open_now = std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {});
  rlimit low = original;
  low.rlim_cur = static_cast<rlim_t>(open_now + 8);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::vector<int> fillers;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);
  // One back for the client: its connection completes in the backlog, and accepting it fails.
  ::close(fillers.back());
  fillers.pop_back();
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(client >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

  // For a while the accept keeps failing: the process must stay (nearly) idle meanwhile.
  rusage before{}, after{};
  ::getrusage(RUSAGE_SELF, &before);
  const auto started = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - started < 600ms) std::this_thread::sleep_for(50ms);
  ::getrusage(RUSAGE_SELF, &after);
  const auto cpu = [](const rusage& r) {
    return std::chrono::seconds(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           std::chrono::microseconds(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
  };
  CHECK(accepted == 0);
  CHECK(cpu(after) - cpu(before) < 150ms);  // a spinning retry would burn the whole 600 ms

  // Descriptors back: the waiting connection is taken.
  for (const int fd : fillers) ::close(fd);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &original) == 0);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (accepted == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  CHECK(accepted == 1);
  ::close(client);
  boost::asio::post(loop, [&] {
    listener.close();
    kept.clear();
  });
  loop.stop();
  runner.join();
}
