#include "support/raw_backend.h"

#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/ws_flood.h"
#include "twilio/base64.h"

namespace callproxy::test {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int poll_ms = 50;  // how often a blocked thread looks at the stop flag

std::string accept_key(const std::string& key) {
  const std::string text = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::uint8_t digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return twilio::base64_encode(std::span<const std::uint8_t>(digest, sizeof digest));
}

std::string header_value(const std::string& request, const std::string& name) {
  std::string lower = request;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string lname = name;
  std::transform(lname.begin(), lname.end(), lname.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto at = lower.find("\r\n" + lname + ":");
  if (at == std::string::npos) return {};
  auto begin = at + 3 + lname.size();
  const auto end = request.find("\r\n", begin);
  while (begin < end && request[begin] == ' ') ++begin;
  return request.substr(begin, end - begin);
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string server_frame(std::uint8_t first, std::string_view payload) {
  std::string frame(1, static_cast<char>(first));
  frame += static_cast<char>(payload.size());  // < 126 here
  frame += payload;
  return frame;
}

}  // namespace

struct RawBackend::Impl {
  struct Connection {
    int fd = -1;
    std::thread thread;
    std::vector<std::string> messages;
    std::optional<int> close_code;
    bool closed = false;
  };

  std::vector<Behaviour> behaviours;
  int listen_fd = -1;
  std::vector<int> fillers;  // never_accepting: the connections that fill its queue
  unsigned short port = 0;
  std::atomic<bool> stopping{false};
  std::thread acceptor;
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::vector<std::unique_ptr<Connection>> connections;

  void listen_on_loopback(int backlog, bool small_buffer) {
    listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) throw std::runtime_error("socket failed");
    if (small_buffer) {
      const int size = 4096;
      ::setsockopt(listen_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listen_fd, backlog) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    socklen_t length = sizeof address;
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
  }

  // How many connections wait in the listener's accept queue, and its limit.
  std::pair<unsigned, unsigned> accept_queue() const {
    tcp_info info{};
    socklen_t length = sizeof info;
    ::getsockopt(listen_fd, IPPROTO_TCP, TCP_INFO, &info, &length);
    return {info.tcpi_unacked, info.tcpi_sacked};
  }

  // Connects to our own listener until its accept queue is full: a later SYN is dropped.
  void fill_accept_queue() {
    for (int i = 0; i < 8; ++i) {
      const auto [queued, limit] = accept_queue();
      if (queued > limit) return;
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(port);
      ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
      fillers.push_back(fd);
      const auto deadline = Clock::now() + std::chrono::seconds(5);
      while (accept_queue().first == queued && Clock::now() < deadline) {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 10);
      }
    }
    const auto [queued, limit] = accept_queue();
    if (queued <= limit) throw std::runtime_error("could not fill the listener's accept queue");
  }

  void accept_loop() {
    while (!stopping) {
      pollfd p{listen_fd, POLLIN, 0};
      if (::poll(&p, 1, poll_ms) <= 0) continue;
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mutex);
      auto c = std::make_unique<Connection>();
      c->fd = fd;
      const auto index = connections.size();
      const auto behaviour = behaviours[std::min(index, behaviours.size() - 1)];
      c->thread = std::thread([this, index, behaviour] { serve_connection(index, behaviour); });
      connections.push_back(std::move(c));
      changed.notify_all();
    }
  }

  Connection& connection(std::size_t index) {
    std::lock_guard lock(mutex);
    return *connections[index];
  }

  // Reads what is there (at most `max` bytes), waiting for it while not stopping: the bytes,
  // or nullopt at EOF, on an error or when stopping.
  std::optional<std::string> read_some(int fd, std::size_t max) {
    while (!stopping) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, poll_ms) <= 0) continue;
      std::string bytes(max, '\0');
      const auto n = ::recv(fd, bytes.data(), max, 0);
      if (n <= 0) return std::nullopt;
      bytes.resize(static_cast<std::size_t>(n));
      return bytes;
    }
    return std::nullopt;
  }

  void mark_closed(std::size_t index) {
    std::lock_guard lock(mutex);
    connections[index]->closed = true;
    changed.notify_all();
  }

  void serve_connection(std::size_t index, Behaviour behaviour) {
    const int fd = connection(index).fd;
    std::string buffer;
    while (buffer.find("\r\n\r\n") == std::string::npos) {
      auto bytes = read_some(fd, 4096);
      if (!bytes) return mark_closed(index);
      buffer += *bytes;
    }
    if (behaviour == Behaviour::no_answer) {
      // Holds the connection, answers nothing; notices when the peer gives up.
      while (read_some(fd, 4096)) {
      }
      return mark_closed(index);
    }
    const auto end = buffer.find("\r\n\r\n") + 4;
    const auto key = header_value(buffer.substr(0, end), "Sec-WebSocket-Key");
    buffer.erase(0, end);
    write_all(fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Accept: " +
                      accept_key(key) +
                      (behaviour == Behaviour::unasked_subprotocol ? "\r\nSec-WebSocket-Protocol: chat" : "") +
                      "\r\n\r\n");
    switch (behaviour) {
      case Behaviour::stall:
        while (!stopping) {
          pollfd p{fd, POLLRDHUP, 0};
          if (::poll(&p, 1, poll_ms) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) break;
        }
        return mark_closed(index);
      case Behaviour::half_frame:
        // Mid-call: once the start and two media frames came.
        read_frames(index, fd, std::move(buffer), false, 3);
        write_all(fd, std::string("\x81\x64", 2) + std::string(50, 'x'));  // 50 of 100 bytes
        ::shutdown(fd, SHUT_RDWR);
        return mark_closed(index);
      case Behaviour::garbage: write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"); break;
      case Behaviour::masked_frame: write_all(fd, std::string("\x81\x85\x01\x02\x03\x04", 6) + "iginl"); break;
      case Behaviour::reserved_opcode: write_all(fd, server_frame(0x83, "x")); break;
      case Behaviour::fragmented_control: write_all(fd, server_frame(0x09, "")); break;
      case Behaviour::invalid_utf8: write_all(fd, server_frame(0x81, "\xc3\x28")); break;
      case Behaviour::fragment_flood:
      case Behaviour::ping_flood: {
        const int code = flood(fd, behaviour == Behaviour::fragment_flood ? FloodKind::fragments : FloodKind::pings,
                               false, stopping);
        {
          std::lock_guard lock(mutex);
          if (code != 0) connections[index]->close_code = code;
        }
        return mark_closed(index);
      }
      default: break;
    }
    read_frames(index, fd, std::move(buffer), behaviour == Behaviour::slow_reader);
  }

  // Reads the peer's (masked) frames until it closes (or until `enough` messages came): text and
  // binary messages are recorded, a close frame is answered with one.
  void read_frames(std::size_t index, int fd, std::string buffer, bool slowly,
                   std::size_t enough = std::numeric_limits<std::size_t>::max()) {
    std::string message;
    for (;;) {
      // Every complete frame in the buffer.
      for (;;) {
        if (buffer.size() < 2) break;
        const auto b0 = static_cast<std::uint8_t>(buffer[0]), b1 = static_cast<std::uint8_t>(buffer[1]);
        std::size_t length = b1 & 0x7f, at = 2;
        if (length == 126) {
          if (buffer.size() < 4) break;
          length = (static_cast<std::uint8_t>(buffer[2]) << 8) | static_cast<std::uint8_t>(buffer[3]);
          at = 4;
        } else if (length == 127) {
          if (buffer.size() < 10) break;
          length = 0;
          for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<std::uint8_t>(buffer[2 + i]);
          at = 10;
        }
        const bool masked = b1 & 0x80;
        const std::size_t mask_at = at;
        if (masked) at += 4;
        if (buffer.size() < at + length) break;
        std::string payload = buffer.substr(at, length);
        if (masked) {
          for (std::size_t i = 0; i < payload.size(); ++i) payload[i] ^= buffer[mask_at + i % 4];
        }
        buffer.erase(0, at + length);
        const int opcode = b0 & 0x0f;
        if (opcode == 8) {
          std::lock_guard lock(mutex);
          if (payload.size() >= 2) {
            connections[index]->close_code = (static_cast<std::uint8_t>(payload[0]) << 8) |
                                             static_cast<std::uint8_t>(payload[1]);
          }
          write_all(fd, server_frame(0x88, payload.substr(0, 2)));
          ::shutdown(fd, SHUT_WR);
        } else if (opcode <= 2) {
          message += payload;
          if (b0 & 0x80) {
            std::lock_guard lock(mutex);
            connections[index]->messages.push_back(std::move(message));
            message.clear();
            changed.notify_all();
            if (connections[index]->messages.size() >= enough) return;
          }
        }
      }
      if (slowly) {
        // Slower than a call's stream: 1 KiB per 50 ms.
        const auto until = Clock::now() + std::chrono::milliseconds(50);
        while (!stopping && Clock::now() < until) {
          pollfd p{fd, 0, 0};
          ::poll(&p, 1, 10);
        }
      }
      auto bytes = read_some(fd, slowly ? 1024 : 65536);
      if (!bytes) return mark_closed(index);
      buffer += *bytes;
    }
  }

  bool wait(std::chrono::milliseconds timeout, const std::function<bool()>& condition) const {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, condition);
  }
};

RawBackend::RawBackend() : impl_(std::make_shared<Impl>()) {}

RawBackend::RawBackend(std::vector<Behaviour> per_connection) : RawBackend() {
  if (per_connection.empty()) throw std::invalid_argument("RawBackend needs a behaviour");
  impl_->behaviours = std::move(per_connection);
  const bool small_buffer = std::any_of(impl_->behaviours.begin(), impl_->behaviours.end(), [](Behaviour b) {
    return b == Behaviour::stall || b == Behaviour::slow_reader;
  });
  impl_->listen_on_loopback(SOMAXCONN, small_buffer);
  impl_->acceptor = std::thread([impl = impl_.get()] { impl->accept_loop(); });
}

std::unique_ptr<RawBackend> RawBackend::never_accepting() {
  std::unique_ptr<RawBackend> backend(new RawBackend());
  backend->impl_->listen_on_loopback(0, false);
  backend->impl_->fill_accept_queue();
  return backend;
}

RawBackend::~RawBackend() {
  impl_->stopping = true;
  if (impl_->acceptor.joinable()) impl_->acceptor.join();
  for (auto& c : impl_->connections) {
    if (c->thread.joinable()) c->thread.join();
    ::close(c->fd);
  }
  for (const int fd : impl_->fillers) ::close(fd);
  ::close(impl_->listen_fd);
}

unsigned short RawBackend::port() const { return impl_->port; }

std::string RawBackend::host_port() const { return "127.0.0.1:" + std::to_string(impl_->port); }

std::size_t RawBackend::connections() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->connections.size();
}

bool RawBackend::wait_for_connections(std::size_t count, std::chrono::milliseconds timeout) const {
  return impl_->wait(timeout, [&] { return impl_->connections.size() >= count; });
}

bool RawBackend::wait_closed(std::size_t index, std::chrono::milliseconds timeout) const {
  return impl_->wait(timeout, [&] { return index < impl_->connections.size() && impl_->connections[index]->closed; });
}

std::vector<std::string> RawBackend::messages(std::size_t index) const {
  std::lock_guard lock(impl_->mutex);
  return index < impl_->connections.size() ? impl_->connections[index]->messages : std::vector<std::string>{};
}

std::optional<int> RawBackend::close_code(std::size_t index) const {
  std::lock_guard lock(impl_->mutex);
  return index < impl_->connections.size() ? impl_->connections[index]->close_code : std::nullopt;
}

}  // namespace callproxy::test
