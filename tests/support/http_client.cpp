#include "support/http_client.h"

#include "support/test_secrets.h"

#include <cctype>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace callproxy::test {

namespace {

// A TCP connection to 127.0.0.1:port, from `source_ip` when one is given (a loopback address).
int connect_loopback(unsigned short port, const std::string& source_ip = {}) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  if (!source_ip.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source_ip.c_str(), &local.sin_addr) != 1 || (ntohl(local.sin_addr.s_addr) >> 24) != 127 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot send from " + source_ip + " (a loopback address is expected)");
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  return fd;
}

}  // namespace

std::string raw_exchange(unsigned short port, const std::string& raw, const std::string& source_ip) {
  const int fd = connect_loopback(port, source_ip);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::size_t sent = 0;
  while (sent < raw.size()) {
    const auto n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (e.g. body too large): read what it said
    sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  char buffer[8192];
  for (;;) {
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    reply.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return reply;
}

HttpReply parse_reply(const std::string& raw) {
  HttpReply reply;
  const auto head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos) {
    throw std::runtime_error("not an HTTP response: '" + raw.substr(0, 200) + "'");
  }
  reply.status = std::stoi(raw.substr(9, 3));
  std::size_t line_start = raw.find("\r\n") + 2;
  while (line_start < head_end) {
    const auto line_end = raw.find("\r\n", line_start);
    const auto line = raw.substr(line_start, line_end - line_start);
    const auto colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    reply.headers[name] = value;
    line_start = line_end + 2;
  }
  reply.body = raw.substr(head_end + 4);
  if (const auto it = reply.headers.find("content-length"); it != reply.headers.end()) {
    reply.body.resize(std::min(reply.body.size(), static_cast<std::size_t>(std::stoul(it->second))));
  }
  return reply;
}

HttpReply http_request(unsigned short port, const std::string& method, const std::string& target,
                       const std::map<std::string, std::string>& headers, const std::string& body) {
  return http_request_from({}, port, method, target, headers, body);
}

HttpReply http_request_from(const std::string& source_ip, unsigned short port, const std::string& method,
                            const std::string& target, const std::map<std::string, std::string>& headers,
                            const std::string& body) {
  secrets::remember_headers(headers);
  std::string raw = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) raw += name + ": " + value + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  raw += "\r\n" + body;
  return parse_reply(raw_exchange(port, raw, source_ip));
}

TcpConnection::TcpConnection(unsigned short port) : fd_(connect_loopback(port)) {}

TcpConnection::~TcpConnection() { ::close(fd_); }

bool TcpConnection::send(const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

bool TcpConnection::read_some(std::chrono::milliseconds timeout) {
  if (ended_) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return true;
  char buffer[8192];
  const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
  if (n <= 0) {
    ended_ = true;
    return false;
  }
  pending_.append(buffer, static_cast<std::size_t>(n));
  return true;
}

HttpReply TcpConnection::read_reply(std::chrono::milliseconds timeout, bool head_request) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto head_end = pending_.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      auto reply = parse_reply(pending_.substr(0, head_end + 4));
      std::size_t length = 0;
      if (const auto it = reply.headers.find("content-length"); it != reply.headers.end() && !head_request) {
        length = std::stoul(it->second);
      }
      if (pending_.size() >= head_end + 4 + length) {
        reply.body = pending_.substr(head_end + 4, length);
        pending_.erase(0, head_end + 4 + length);
        return reply;
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                            std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("no complete HTTP response in time; received: '" + pending_ + "'");
    if (!read_some(left)) throw std::runtime_error("connection closed before a complete response: '" + pending_ + "'");
  }
}

bool TcpConnection::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                            std::chrono::steady_clock::now());
    if (left.count() <= 0) return ended_;
    if (!read_some(left)) return true;
  }
}

}  // namespace callproxy::test
