// Everything `callproxy serve` is configured with, validated before the server starts.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace callproxy::proxy {

struct ServeOptions {
  std::string bind = "0.0.0.0";
  std::uint16_t port = 8999;  // 0 picks a free port (logged at start)
  unsigned threads = 0;       // event loops; 0 = one per hardware thread
  std::chrono::milliseconds drain_timeout{30'000};
  // HTTP safety limits.
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds idle_timeout{30'000};  // an HTTP connection with no request
};

}  // namespace callproxy::proxy
