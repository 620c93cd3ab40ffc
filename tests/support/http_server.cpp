#include "support/http_server.h"

#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace callproxy::test {

CannedHttpServer::CannedHttpServer(Responder respond) : CannedHttpServer(200, {}) {
  // Set before the first request can be answered: serve() reads it under the mutex.
  std::lock_guard lock(mutex_);
  respond_ = std::move(respond);
}

CannedHttpServer::CannedHttpServer(int status, std::string body, std::chrono::milliseconds delay)
    : status_(status), body_(std::move(body)), delay_(delay) {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 16) != 0) {
    throw std::runtime_error("test HTTP server cannot listen");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

CannedHttpServer::~CannedHttpServer() {
  stopping_ = true;
  thread_.join();
  ::close(listener_);
}

std::vector<std::string> CannedHttpServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void CannedHttpServer::serve() {
  while (!stopping_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int fd = ::accept(listener_, nullptr, nullptr);
    if (fd < 0) continue;
    std::string request;
    char buffer[4096];
    // Read the head, then the body its Content-Length announces.
    for (;;) {
      const auto head_end = request.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::size_t length = 0;
        if (const auto at = request.find("Content-Length: "); at != std::string::npos)
          length = std::stoul(request.substr(at + 16));
        if (request.size() >= head_end + 4 + length) break;
      }
      const auto n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<std::size_t>(n));
    }
    Responder respond;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
      respond = respond_;
    }
    CannedAnswer answer{status_, body_};
    if (respond) answer = respond(request);
    const auto deadline = std::chrono::steady_clock::now() + delay_;
    while (!stopping_ && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const std::string response = "HTTP/1.1 " + std::to_string(answer.status) +
                                 " X\r\nContent-Type: " + answer.content_type +
                                 "\r\nContent-Length: " + std::to_string(answer.body.size()) +
                                 "\r\nConnection: close\r\n\r\n" + answer.body;
    ::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
    ::close(fd);
  }
}

}  // namespace callproxy::test
