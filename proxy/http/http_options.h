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
  // Deadlines, so that neither a slow client (slowloris headers or bodies) nor a stuck handler
  // holds a connection: a request's header must be complete header_timeout after its first byte
  // (a new connection: after it was accepted, TLS handshake included); a kept-alive connection
  // waits idle_timeout for the next request; the body and the handler together get
  // request_timeout from the end of the header, then the request is answered 503.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{30'000};
  std::chrono::milliseconds request_timeout{10'000};
  // Connections and calls at once (connection_limits.h); 0 derives them from the descriptor limit.
  std::size_t max_connections = 0;
  std::size_t max_calls = 0;
  // Connections at once from one source (an IPv4 address, an IPv6 /64), calls included; 0 = no
  // cap (behind a balancer every connection comes from it).
  std::size_t max_connections_per_source = 0;
};

}  // namespace callproxy::proxy
