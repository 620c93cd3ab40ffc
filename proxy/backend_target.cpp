#include "proxy/backend_target.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "twilio/json_limits.h"

namespace callproxy::proxy {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// An IP literal as bytes (4 or 16), or empty.
std::vector<std::uint8_t> ip_bytes(std::string_view text) {
  const std::string s(text);
  std::uint8_t buffer[16];
  if (inet_pton(AF_INET, s.c_str(), buffer) == 1) return {buffer, buffer + 4};
  if (inet_pton(AF_INET6, s.c_str(), buffer) == 1) {
    // An IPv4-mapped IPv6 address matches IPv4 patterns.
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::equal(mapped, mapped + 12, buffer)) return {buffer + 12, buffer + 16};
    return {buffer, buffer + 16};
  }
  return {};
}

bool valid_host(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  if (!ip_bytes(host).empty()) return true;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

// Splits "host:port" or "[v6]:port".
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

}  // namespace

std::string BackendTarget::url() const {
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(tls ? "wss://" : "ws://") + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + target;
}

twilio::Result<BackendTarget> parse_backend(std::string_view entry) {
  const auto fail = [&](std::string_view why) {
    return twilio::Error{"backend '" + std::string(entry) + "': " + std::string(why)};
  };
  BackendTarget t;
  std::string_view rest = entry;
  const auto scheme_end = entry.find("://");
  if (scheme_end != std::string_view::npos) {
    const auto scheme = lower(entry.substr(0, scheme_end));
    if (scheme == "wss") t.tls = true;
    else if (scheme != "ws") return fail("scheme must be ws:// or wss://");
    rest = entry.substr(scheme_end + 3);
    const auto path_start = rest.find_first_of("/?");
    t.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
    if (t.target.front() == '?') t.target.insert(0, "/");
    rest = rest.substr(0, path_start);
    if (rest.find('@') != std::string_view::npos) return fail("credentials in the URL are not supported");
    if (rest.find(':') == std::string_view::npos || (rest.front() == '[' && rest.back() == ']')) {
      // No port: the scheme's default.
      t.host = rest.front() == '[' ? std::string(rest.substr(1, rest.size() - 2)) : std::string(rest);
      t.port = t.tls ? 443 : 80;
    } else {
      const auto hp = split_host_port(rest);
      if (!hp) return fail("cannot read host and port");
      const auto port = parse_port(hp->second);
      if (!port) return fail("port must be 1-65535");
      t.host = hp->first;
      t.port = *port;
    }
  } else {
    const auto hp = split_host_port(entry);
    if (!hp) return fail("expected host:port or a ws:// or wss:// URL");
    const auto port = parse_port(hp->second);
    if (!port) return fail("port must be 1-65535");
    t.host = hp->first;
    t.port = *port;
    t.target = "/media";
  }
  if (!valid_host(t.host)) return fail("invalid host");
  t.host = lower(t.host);
  if (t.target.find_first_of(" \r\n\t") != std::string::npos) return fail("invalid path");
  return t;
}

twilio::Result<std::vector<std::string>> parse_backend_hosts(std::string_view json_text) {
  const auto parsed = twilio::parse_json_bounded(json_text);
  if (!parsed || !parsed.value().is_array()) {
    return twilio::Error{"backendHosts must be a JSON array of strings, got '" + std::string(json_text.substr(0, 200)) + "'"};
  }
  std::vector<std::string> out;
  for (const auto& entry : parsed.value()) {
    if (!entry.is_string()) return twilio::Error{"backendHosts entries must be strings"};
    out.push_back(entry.get<std::string>());
  }
  return out;
}

void BackendAllowlist::add(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    throw std::invalid_argument("--backend-allow '" + std::string(text) + "': expected HOST:PORT (PORT may be *)");
  }
  auto host = text.substr(0, colon);
  const auto port = text.substr(colon + 1);
  Pattern p{Pattern::Kind::any, {}, {}, 0, std::nullopt};
  if (port != "*") {
    p.port = parse_port(port);
    if (!p.port) throw std::invalid_argument("--backend-allow '" + std::string(text) + "': port must be 1-65535 or *");
  }
  // IPv6 in brackets: "[fd00::1]:9000" or "[fd00::]/8:9000".
  std::string unbracketed;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) {
      throw std::invalid_argument("--backend-allow '" + std::string(text) + "': unclosed '['");
    }
    unbracketed = std::string(host.substr(1, close - 1)) + std::string(host.substr(close + 1));
    host = unbracketed;
  }
  if (host == "*") {
    p.kind = Pattern::Kind::any;
  } else if (host.rfind("*.", 0) == 0) {
    p.kind = Pattern::Kind::suffix;
    p.text = lower(host.substr(1));
  } else if (const auto slash = host.find('/'); slash != std::string_view::npos) {
    p.kind = Pattern::Kind::cidr;
    p.network = ip_bytes(host.substr(0, slash));
    int prefix = -1;
    const auto bits = host.substr(slash + 1);
    const auto [ptr, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    if (p.network.empty() || ec != std::errc() || ptr != bits.data() + bits.size() || prefix < 0 ||
        prefix > static_cast<int>(p.network.size() * 8)) {
      throw std::invalid_argument("--backend-allow '" + std::string(text) + "': invalid CIDR block");
    }
    p.prefix = prefix;
  } else {
    if (!valid_host(host)) throw std::invalid_argument("--backend-allow '" + std::string(text) + "': invalid host");
    p.kind = Pattern::Kind::exact;
    p.text = lower(host);
  }
  patterns_.push_back(std::move(p));
}

bool BackendAllowlist::host_matches(const Pattern& p, std::string_view host, std::string_view address) {
  switch (p.kind) {
    case Pattern::Kind::any:
      return true;
    case Pattern::Kind::exact:
      return lower(host) == p.text;
    case Pattern::Kind::suffix: {
      const auto h = lower(host);
      return h.size() > p.text.size() && h.compare(h.size() - p.text.size(), p.text.size(), p.text) == 0;
    }
    case Pattern::Kind::cidr: {
      const auto bytes = ip_bytes(address.empty() ? host : address);
      if (bytes.size() != p.network.size()) return false;
      int bits = p.prefix;
      for (std::size_t i = 0; i < bytes.size() && bits > 0; ++i, bits -= 8) {
        const std::uint8_t mask = bits >= 8 ? 0xFF : static_cast<std::uint8_t>(0xFF << (8 - bits));
        if ((bytes[i] & mask) != (p.network[i] & mask)) return false;
      }
      return true;
    }
  }
  return false;
}

bool BackendAllowlist::allows(std::string_view host, std::string_view address, std::uint16_t port) const {
  if (patterns_.empty()) return true;
  return std::any_of(patterns_.begin(), patterns_.end(), [&](const Pattern& p) {
    return (!p.port || *p.port == port) && host_matches(p, host, address);
  });
}

bool BackendAllowlist::may_allow(std::string_view host, std::uint16_t port) const {
  if (patterns_.empty()) return true;
  return std::any_of(patterns_.begin(), patterns_.end(), [&](const Pattern& p) {
    if (p.port && *p.port != port) return false;
    // A CIDR pattern can only be judged against the resolved address, unless host is an IP.
    if (p.kind == Pattern::Kind::cidr && ip_bytes(host).empty()) return true;
    return host_matches(p, host, {});
  });
}

}  // namespace callproxy::proxy
