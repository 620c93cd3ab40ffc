#include "net/endpoint.h"

#include "core/ascii_case.h"
#include "core/log_text.h"

#include <arpa/inet.h>

#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace callproxy::net {

std::string Endpoint::authority() const {
  const bool v6 = host.find(':') != std::string::npos;
  const auto name = v6 ? "[" + host + "]" : host;
  return port == (tls ? 443 : 80) ? name : name + ":" + std::to_string(port);
}

std::string Endpoint::origin(bool http) const {
  const bool v6 = host.find(':') != std::string::npos;
  const char* scheme = http ? (tls ? "https://" : "http://") : (tls ? "wss://" : "ws://");
  return scheme + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string Endpoint::url(bool http) const { return origin(http) + target; }

std::string Endpoint::logged_url(bool http) const {
  // The query may carry the backend's credentials; the path is the peer's to make long.
  const auto query = target.find('?');
  return origin(http) + logged_text(std::string_view(target).substr(0, query)) +
         (query == std::string::npos ? "" : "?…");
}

Result<Endpoint> parse_url(std::string_view text, UrlScheme kind) {
  const auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return Error{"not a URL"};
  Endpoint e;
  const auto scheme = lower_ascii(parsed->scheme());
  const char* plain = kind == UrlScheme::websocket ? "ws" : "http";
  const char* secure = kind == UrlScheme::websocket ? "wss" : "https";
  if (scheme == secure) {
    e.tls = true;
  } else if (scheme != plain) {
    return Error{std::string("scheme must be ") + plain + ":// or " + secure + "://"};
  }
  if (parsed->has_userinfo()) return Error{"credentials in the URL are not supported"};
  // After an authority the path is empty or starts with '/' (RFC 3986). Boost.URL 1.81 reads
  // "ws://host:80x/" as the port 80 and the path "x/", and "ws://10.0.0.5.nip.io/" as the host
  // 10.0.0.5 and the path ".nip.io/", instead of refusing the one and reading the other's name.
  if (const auto path = parsed->encoded_path(); !path.empty() && path.front() != '/') {
    if (parsed->host_type() == boost::urls::host_type::ipv4 && !parsed->has_port()) {
      return Error{"a host name that starts with an IPv4 address is not read in a URL: write it as HOST:PORT"};
    }
    return Error{"port must be 1-65535, and what follows it a path starting with '/'"};
  }
  e.host = lower_ascii(parsed->host_address());
  if (!valid_host(e.host)) return Error{"invalid host"};
  if (parsed->has_port()) {
    const auto port = parse_port(parsed->port());
    if (!port) return Error{"port must be 1-65535"};
    e.port = *port;
  } else {
    e.port = e.tls ? 443 : 80;
  }
  e.target = std::string(parsed->encoded_target());
  if (e.target.empty() || e.target.front() == '?') e.target.insert(0, "/");
  return e;
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::vector<std::uint8_t> ip_bytes(std::string_view text) {
  // inet_pton reads up to a NUL: "127.0.0.1\0x" is not the address 127.0.0.1.
  if (text.find('\0') != std::string_view::npos) return {};
  const std::string s(text);
  std::uint8_t buffer[16];
  if (inet_pton(AF_INET, s.c_str(), buffer) == 1) return {buffer, buffer + 4};
  if (inet_pton(AF_INET6, s.c_str(), buffer) == 1) {
    // An IPv4-mapped IPv6 address is the IPv4 address it maps.
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::equal(mapped, mapped + 12, buffer)) return {buffer + 12, buffer + 16};
    return {buffer, buffer + 16};
  }
  return {};
}

bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::string_view last;
  for (std::string_view rest = name;;) {
    const auto dot = rest.find('.');
    const auto label = rest.substr(0, dot);
    if (label.empty() || label.size() > 63) return false;  // also a leading, doubled or trailing dot
    const bool allowed = std::all_of(label.begin(), label.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
    if (!allowed) return false;
    if (dot == std::string_view::npos) {
      last = label;
      break;
    }
    rest.remove_prefix(dot + 1);
  }
  // A last label that is a number (decimal, octal or 0x hex) makes the whole name one to the
  // resolver (inet_aton): "2130706433", "0177.0.0.1" and "0x7f.1" are 127.0.0.1.
  const auto digits = last.size() > 1 && (last[1] == 'x' || last[1] == 'X') && last[0] == '0' ? last.substr(2) : last;
  const bool hex = digits.size() != last.size();
  return !std::all_of(digits.begin(), digits.end(), [hex](char c) {
    return hex ? std::isxdigit(static_cast<unsigned char>(c)) != 0 : std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

bool valid_host(std::string_view host) { return !ip_bytes(host).empty() || valid_dns_name(host); }

std::optional<std::pair<std::string, std::string>> split_host_port(std::string_view s) {
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    return std::pair{std::string(s.substr(1, close - 1)), std::string(s.substr(close + 2))};
  }
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  // A bare IPv6 literal has several colons and needs brackets.
  if (s.find(':') != colon) return std::nullopt;
  return std::pair{std::string(s.substr(0, colon)), std::string(s.substr(colon + 1))};
}

}  // namespace callproxy::net
