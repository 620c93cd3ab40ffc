// Where a call's audio goes: backend entries as the Studio flow names them ("host:port", or a
// full ws:// / wss:// URL), and the allowlist that may restrict them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twilio/result.h"

namespace callproxy::proxy {

struct BackendTarget {
  bool tls = false;       // wss://
  std::string host;       // name or IP literal (no brackets)
  std::uint16_t port = 0;
  std::string target;     // path and query, "/media" for host:port entries
  std::string url() const;  // ws[s]://host:port/target, for logs and metrics
};

// "host:port" means ws://host:port/media (the Node service's convention); a ws:// or wss:// URL
// is used as given. Anything else is an error naming the entry.
twilio::Result<BackendTarget> parse_backend(std::string_view entry);

// customParameters.backendHosts: a JSON array of entries, encoded as a string.
twilio::Result<std::vector<std::string>> parse_backend_hosts(std::string_view json_text);

// --backend-allow patterns: HOST:PORT where HOST is an exact name or IP, "*.suffix", a CIDR
// block ("10.0.0.0/8", "fd00::/8"), or "*"; PORT is a number or "*".
class BackendAllowlist {
 public:
  // Throws std::invalid_argument naming the pattern when it cannot be parsed.
  void add(std::string_view pattern);
  bool empty() const { return patterns_.empty(); }

  // Whether a backend named `host` (as written) may be reached at `address` (the resolved IP,
  // empty before resolution) on `port`. Name patterns match the name; CIDR patterns match the
  // resolved address (or an IP literal name), so a DNS name cannot smuggle in another network.
  bool allows(std::string_view host, std::string_view address, std::uint16_t port) const;
  // Before resolution: could any pattern allow this host and port?
  bool may_allow(std::string_view host, std::uint16_t port) const;

 private:
  struct Pattern {
    enum class Kind { any, exact, suffix, cidr } kind;
    std::string text;                    // exact name or suffix (".internal")
    std::vector<std::uint8_t> network;   // cidr: 4 or 16 bytes
    int prefix = 0;
    std::optional<std::uint16_t> port;   // nullopt: any port
  };
  static bool host_matches(const Pattern& p, std::string_view host, std::string_view address);
  std::vector<Pattern> patterns_;
};

}  // namespace callproxy::proxy
