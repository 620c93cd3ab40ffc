// Where a client connects: parsed once from a URL (Boost.URL), or from host:port, with the
// host-name and address helpers the allowlist and the URL parsing share.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace callproxy::net {

struct Endpoint {
  bool tls = false;          // wss:// or https://
  std::string host;          // lower-case name or IP literal (no brackets)
  std::uint16_t port = 0;    // the scheme's default when the URL names none
  std::string target = "/";  // path and query

  // host[:port] as a Host header says it: IPv6 in brackets, the scheme's default port left out.
  std::string authority() const;
  // ws[s]://host:port/target (or http[s]:// with `http`): the whole URL, which parses back to
  // this endpoint.
  std::string url(bool http = false) const;
  // The same for log lines: a query shown as "?…" (it may carry credentials), a path past 256
  // bytes cut (core/log_text.h).
  std::string logged_url(bool http = false) const;

 private:
  std::string origin(bool http) const;  // scheme://host:port
};

enum class UrlScheme { websocket, http };  // ws:// and wss://, or http:// and https://

// A URL of the given kind; the error says what is wrong with it (not the URL itself). URLs
// with credentials are refused: nothing we connect to takes them there.
Result<Endpoint> parse_url(std::string_view url, UrlScheme scheme);

// "1".."65535".
std::optional<std::uint16_t> parse_port(std::string_view text);
// An IP literal as bytes: 4 for IPv4 (and IPv4-mapped IPv6), 16 for IPv6; empty otherwise.
std::vector<std::uint8_t> ip_bytes(std::string_view text);
// A DNS name: dot-separated labels of letters, digits, '-' and '_' (no empty label, so no
// trailing dot), the last of which is not a number; a name whose last label is one ("8",
// "2130706433", "0177.0.0.1", "0x7f.1") is an IPv4 address to the resolver, in a spelling no
// allowlist pattern names.
bool valid_dns_name(std::string_view name);
// An IP literal (as ip_bytes reads it) or a DNS name.
bool valid_host(std::string_view host);
// "host:port" or "[v6]:port" split in two (the port unchecked); a bare IPv6 literal is refused.
std::optional<std::pair<std::string, std::string>> split_host_port(std::string_view text);

}  // namespace callproxy::net
