// Where serve listens and the limits of its HTTP server.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace callproxy::proxy {

struct HttpOptions {
  std::string bind = "0.0.0.0";
  std::uint16_t port = 8999;      // 0 picks a free port (logged at start)
  std::string tls_cert, tls_key;  // serve https:// and wss:// directly
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds idle_timeout{30'000};  // an HTTP connection with no request
};

}  // namespace callproxy::proxy
