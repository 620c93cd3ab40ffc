#include "bench/flood.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace callproxy::bench {
namespace {

using Clock = std::chrono::steady_clock;

int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads until `until` appears in what came (true), or the peer ends, or `ms` pass (false).
bool read_until(int fd, const char* until, int ms, std::string& got) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
  char buffer[4096];
  while (got.find(until) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    got.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

// A client's empty frame (masked, as a client must).
std::string empty_frame(std::uint8_t first) { return std::string{static_cast<char>(first), '\x80', 1, 2, 3, 4}; }

}  // namespace

Flood::Flood(std::uint16_t port, std::string path, FloodKind kind, int peers) : port_(port), path_(std::move(path)) {
  for (int i = 0; i < peers; ++i) threads_.emplace_back([this, kind] { flood(kind); });
  threads_.emplace_back([this] { probe(); });
}

Flood::~Flood() {
  stop_ = true;
  for (auto& t : threads_) t.join();
}

void Flood::flood(FloodKind kind) {
  const std::string upgrade = "GET " + path_ + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
                              "Sec-WebSocket-Version: 13\r\n\r\n";
  // An endless message of empty fragments, or empty pings.
  const std::string opening = kind == FloodKind::fragments ? empty_frame(0x01) : std::string();
  const std::string unit = empty_frame(kind == FloodKind::fragments ? 0x00 : 0x89);
  std::string burst;
  while (burst.size() < 16 * 1024) burst += unit;
  std::vector<char> sink(64 * 1024);
  while (!stop_) {
    const int fd = connect_loopback(port_);
    std::string answer;
    if (fd < 0 || ::send(fd, upgrade.data(), upgrade.size(), MSG_NOSIGNAL) < 0 ||
        !read_until(fd, "\r\n\r\n", 2000, answer) || answer.rfind("HTTP/1.1 101 ", 0) != 0) {
      if (fd >= 0) ::close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // refused: try again, without spinning
      continue;
    }
    ++connections_;
    ::send(fd, opening.data(), opening.size(), MSG_NOSIGNAL);
    std::size_t at = 0;
    bool ended = false;
    while (!stop_ && !ended) {
      pollfd p{fd, POLLIN | POLLOUT, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      if (p.revents & POLLIN) {
        const auto n = ::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT);  // pongs, dropped
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) ended = true;
      }
      if (p.revents & (POLLERR | POLLHUP)) ended = true;
      if (!ended && (p.revents & POLLOUT)) {
        const auto n = ::send(fd, burst.data() + at, burst.size() - at, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ended = true;
        if (n > 0) at = (at + static_cast<std::size_t>(n)) % burst.size();
      }
    }
    if (ended) ++closed_;
    ::close(fd);
  }
}

void Flood::probe() {
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  while (!stop_) {
    const auto asked = Clock::now();
    const int fd = connect_loopback(port_);
    std::string answer;
    const bool ok = fd >= 0 && ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) > 0 &&
                    read_until(fd, "\r\n\r\n", 10'000, answer) && answer.rfind("HTTP/1.1 200", 0) == 0;
    if (fd >= 0) ::close(fd);
    const auto us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - asked).count());
    if (!ok) ++healthz_unanswered_;
    if (us > worst_healthz_us_) worst_healthz_us_ = us;
    std::this_thread::sleep_until(asked + std::chrono::milliseconds(50));
  }
}

}  // namespace callproxy::bench
