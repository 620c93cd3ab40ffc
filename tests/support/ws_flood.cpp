#include "support/ws_flood.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace callproxy::test {
namespace {

constexpr int poll_ms = 50;  // how often a flooding thread looks at its stop flag

// One frame with an empty payload; a client's carries a mask key.
std::string empty_frame(std::uint8_t first, bool masked) {
  std::string frame{static_cast<char>(first), static_cast<char>(masked ? 0x80 : 0)};
  if (masked) frame.append("\x1b\x7e\x42\xc9", 4);
  return frame;
}

// The code of the first close frame in `in` (frames from the peer, masked or not), consuming
// the frames before it; nullopt while none is there.
std::optional<int> find_close(std::string& in) {
  for (;;) {
    if (in.size() < 2) return std::nullopt;
    const auto b0 = static_cast<std::uint8_t>(in[0]), b1 = static_cast<std::uint8_t>(in[1]);
    std::size_t length = b1 & 0x7f, at = 2;
    if (length == 126) {
      if (in.size() < 4) return std::nullopt;
      length = (static_cast<std::uint8_t>(in[2]) << 8) | static_cast<std::uint8_t>(in[3]);
      at = 4;
    } else if (length == 127) {
      if (in.size() < 10) return std::nullopt;
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<std::uint8_t>(in[2 + i]);
      at = 10;
    }
    const bool masked = b1 & 0x80;
    const std::size_t key_at = at;
    if (masked) at += 4;
    if (in.size() < at + length) return std::nullopt;
    if ((b0 & 0x0f) == 8) {
      if (length < 2) return 1005;
      auto byte = [&](std::size_t i) {
        auto b = static_cast<std::uint8_t>(in[at + i]);
        return masked ? static_cast<std::uint8_t>(b ^ static_cast<std::uint8_t>(in[key_at + i])) : b;
      };
      return (byte(0) << 8) | byte(1);
    }
    in.erase(0, at + length);
  }
}

bool send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// A connected, upgraded client socket to serve's /media, or -1.
int open_media_stream(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      !send_all(fd, "GET /media HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")) {
    ::close(fd);
    return -1;
  }
  // Byte by byte up to the end of the answer's header: what follows is the flood's.
  std::string answer;
  char c;
  while (answer.size() < 4 || answer.compare(answer.size() - 4, 4, "\r\n\r\n") != 0) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0 || ::recv(fd, &c, 1, 0) != 1) {
      ::close(fd);
      return -1;
    }
    answer += c;
  }
  if (answer.rfind("HTTP/1.1 101 ", 0) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int flood(int fd, FloodKind kind, bool masked, const std::atomic<bool>& stop) {
  const auto unit = empty_frame(kind == FloodKind::fragments ? 0x00 : 0x89, masked);
  std::string burst;
  if (kind == FloodKind::fragments) burst = empty_frame(0x01, masked);  // a text message that never ends
  while (burst.size() < 16 * 1024) burst += unit;
  std::string loop_bytes;  // what repeats after the opening frame
  while (loop_bytes.size() < 16 * 1024) loop_bytes += unit;
  const std::string* sending = &burst;
  std::size_t at = 0;
  std::string in;
  std::vector<char> sink(64 * 1024);
  while (!stop) {
    pollfd p{fd, POLLIN | POLLOUT, 0};
    if (::poll(&p, 1, poll_ms) <= 0) continue;
    if (p.revents & POLLIN) {
      const auto n = ::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT);
      if (n == 0) break;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
      if (n > 0) {
        in.append(sink.data(), static_cast<std::size_t>(n));
        if (const auto code = find_close(in)) return *code;
        if (in.size() > (1 << 20)) in.clear();  // pongs only: nothing to keep
      }
    }
    if (p.revents & (POLLERR | POLLHUP)) break;
    if (p.revents & POLLOUT) {
      const auto n = ::send(fd, sending->data() + at, sending->size() - at, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) continue;
        break;
      }
      at += static_cast<std::size_t>(n);
      if (at == sending->size()) {
        sending = &loop_bytes;
        at = 0;
      }
    }
  }
  // Ended by the peer: a close frame may still be in what it sent last.
  if (const auto code = find_close(in)) return *code;
  return 0;
}

struct MediaFlooders::Impl {
  std::atomic<bool> stop{false};
  mutable std::mutex mutex;
  std::size_t connections = 0;
  std::map<int, std::size_t> closes;
  std::vector<std::thread> threads;

  void run(unsigned short port, FloodKind kind) {
    while (!stop) {
      const int fd = open_media_stream(port);
      if (fd < 0) {
        // Refused (serve at a limit): try again soon, without spinning.
        pollfd none{-1, 0, 0};
        ::poll(&none, 0, 10);
        continue;
      }
      {
        std::lock_guard lock(mutex);
        ++connections;
      }
      const int code = flood(fd, kind, true, stop);
      ::close(fd);
      if (stop) break;
      std::lock_guard lock(mutex);
      ++closes[code];
    }
  }
};

MediaFlooders::MediaFlooders(unsigned short port, FloodKind kind, std::size_t count) : impl_(std::make_shared<Impl>()) {
  for (std::size_t i = 0; i < count; ++i) {
    impl_->threads.emplace_back([impl = impl_, port, kind] { impl->run(port, kind); });
  }
}

MediaFlooders::~MediaFlooders() {
  impl_->stop = true;
  for (auto& thread : impl_->threads) thread.join();
}

std::size_t MediaFlooders::connections() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->connections;
}

std::map<int, std::size_t> MediaFlooders::closes() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->closes;
}

}  // namespace callproxy::test
