#include "proxy/media/backend_allowlist.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "core/ascii_case.h"
#include "net/endpoint.h"

namespace callproxy::proxy {

using net::ip_bytes;
using net::parse_port;

void BackendAllowlist::add(std::string_view text) {
  if (text.substr(0, 5) == "unix:") {
    auto folder = std::string(text.substr(5));
    const auto invalid = [&](std::string_view why) {
      return std::invalid_argument("--backend-allow '" + std::string(text) + "': " + std::string(why));
    };
    if (folder.empty() || folder.front() != '/') throw invalid("expected unix:/FOLDER (an absolute path)");
    while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
    if (folder == "/") throw invalid("a folder, not / (every socket on the machine)");
    for (std::size_t at = 1; at <= folder.size();) {
      const auto end = std::min(folder.find('/', at), folder.size());
      const auto part = std::string_view(folder).substr(at, end - at);
      if (part.empty() || part == "." || part == "..") throw invalid("no empty, '.' or '..' parts in the folder");
      at = end + 1;
    }
    socket_folders_.push_back(folder + "/");
    return;
  }
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
  const auto invalid = [&](std::string_view why) {
    return std::invalid_argument("--backend-allow '" + std::string(text) + "': " + std::string(why));
  };
  if (host == "*") {
    p.kind = Pattern::Kind::any;
  } else if (host.rfind("*.", 0) == 0) {
    if (!net::valid_dns_name(host.substr(2))) throw invalid("invalid host suffix");
    p.kind = Pattern::Kind::suffix;
    p.text = lower_ascii(host.substr(1));
  } else if (const auto slash = host.find('/'); slash != std::string_view::npos) {
    p.kind = Pattern::Kind::cidr;
    const auto network = host.substr(0, slash);
    p.network = ip_bytes(network);
    int prefix = -1;
    const auto bits = host.substr(slash + 1);
    const auto [ptr, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    // An IPv4-mapped block ("::ffff:10.0.0.0/104") is the IPv4 block it maps.
    if (p.network.size() == 4 && network.find(':') != std::string_view::npos) prefix -= 96;
    if (p.network.empty() || ec != std::errc() || ptr != bits.data() + bits.size() || prefix < 0 ||
        prefix > static_cast<int>(p.network.size() * 8)) {
      throw invalid("invalid CIDR block");
    }
    p.prefix = prefix;
  } else if (auto address = ip_bytes(host); !address.empty()) {
    // An address is matched as one, whatever its spelling ("::1", "0:0:0:0:0:0:0:1", and
    // "::ffff:127.0.0.1" for 127.0.0.1), and against what a name resolves to.
    p.kind = Pattern::Kind::cidr;
    p.prefix = static_cast<int>(address.size() * 8);
    p.network = std::move(address);
  } else {
    if (!net::valid_dns_name(host)) throw invalid("invalid host");
    p.kind = Pattern::Kind::exact;
    p.text = lower_ascii(host);
  }
  patterns_.push_back(std::move(p));
}

bool BackendAllowlist::host_matches(const Pattern& p, std::string_view host, std::string_view address) {
  switch (p.kind) {
    case Pattern::Kind::any: return true;
    // Name patterns match names only: an IP literal is judged by its address.
    case Pattern::Kind::exact: return ip_bytes(host).empty() && lower_ascii(host) == p.text;
    case Pattern::Kind::suffix: {
      if (!ip_bytes(host).empty()) return false;
      const auto h = lower_ascii(host);
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
  if (empty()) return true;
  return std::any_of(patterns_.begin(), patterns_.end(),
                     [&](const Pattern& p) { return (!p.port || *p.port == port) && host_matches(p, host, address); });
}

bool BackendAllowlist::allows_socket(std::string_view path) const {
  return std::any_of(socket_folders_.begin(), socket_folders_.end(), [&](const std::string& folder) {
    return path.size() > folder.size() && path.substr(0, folder.size()) == folder;
  });
}

bool BackendAllowlist::may_allow(std::string_view host, std::uint16_t port) const {
  if (empty()) return true;
  return std::any_of(patterns_.begin(), patterns_.end(), [&](const Pattern& p) {
    if (p.port && *p.port != port) return false;
    // A CIDR pattern can only be judged against the resolved address, unless host is an IP.
    if (p.kind == Pattern::Kind::cidr && ip_bytes(host).empty()) return true;
    return host_matches(p, host, {});
  });
}

}  // namespace callproxy::proxy
