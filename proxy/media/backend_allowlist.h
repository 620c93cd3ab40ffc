// Which backends a call may reach (--backend-allow): checked on the name before resolving and on
// every resolved address before connecting, so a DNS name cannot smuggle in another network.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace callproxy::proxy {

// --backend-allow patterns: HOST:PORT where HOST is an exact name, an IP address (a block of
// one), "*.suffix", a CIDR block ("10.0.0.0/8", "[fd00::]/8"), or "*"; PORT is a number or "*".
// Names match names (case aside); addresses and blocks match the address a backend resolves to
// (or its IP literal), compared as bytes, so no spelling of an address (expanded or compressed
// IPv6, IPv4-mapped IPv6) escapes its block, and a host that is a number rather than a name
// ("2130706433", "0x7f.1") is refused before it is resolved (net::valid_dns_name).
// "unix:/FOLDER" allows the Unix sockets below that folder (at any depth). A Unix socket named by a
// call needs such a pattern (an empty list or "*" allows none); serve's own --backend entries need
// none.
class BackendAllowlist {
 public:
  // Throws std::invalid_argument naming the pattern when it cannot be parsed.
  void add(std::string_view pattern);
  // No pattern at all: every network backend is allowed (and no Unix socket named by a call).
  // One unix: pattern alone makes a list: network backends then need a pattern of their own.
  bool empty() const { return patterns_.empty() && socket_folders_.empty(); }
  // Whether a socket path (lexically normal: proxy/media/backend_target.h) is below a unix: folder.
  bool allows_socket(std::string_view path) const;

  // Whether a backend named `host` (as written) may be reached at `address` (the resolved IP,
  // empty before resolution) on `port`. Name patterns match the name; CIDR patterns match the
  // resolved address (or an IP literal name), so a DNS name cannot smuggle in another network.
  bool allows(std::string_view host, std::string_view address, std::uint16_t port) const;
  // Before resolution: could any pattern allow this host and port?
  bool may_allow(std::string_view host, std::uint16_t port) const;

 private:
  struct Pattern {
    enum class Kind { any, exact, suffix, cidr } kind;
    std::string text;                   // exact name or suffix (".internal")
    std::vector<std::uint8_t> network;  // cidr: 4 or 16 bytes
    int prefix = 0;
    std::optional<std::uint16_t> port;  // nullopt: any port
  };
  static bool host_matches(const Pattern& p, std::string_view host, std::string_view address);
  std::vector<Pattern> patterns_;
  std::vector<std::string> socket_folders_;  // "/run/callproxy/": each ends in '/'
};

}  // namespace callproxy::proxy
