// Where a call's audio may go: customParameters.backendHosts (parse_backend_hosts, parse_backend)
// as a Studio flow or a caller's own start message names it, judged by --backend-allow patterns.
// Input: the first line is the allowlist, patterns separated by ','; the rest is backendHosts'
// JSON text, and is also tried as a single entry.
// A backend that parses has a host the resolver cannot read other than as written (a canonical IP
// literal or a DNS name, never a number such as 2130706433 or 0x7f.1), its URL parses back to
// itself (a unix: socket's path is absolute and lexically normal), and the allowlist judges an IP literal the same in
// every spelling and the same before and after resolution.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "net/endpoint.h"
#include "proxy/media/backend_allowlist.h"
#include "proxy/media/backend_target.h"

using namespace callproxy;
using namespace callproxy::proxy;

namespace {

// An IP literal as the resolver gives it back (inet_ntop), which is what the allowlist sees after
// resolution; empty for a name.
std::string resolved_form(const std::string& host) {
  const auto bytes = net::ip_bytes(host);
  if (bytes.empty()) return {};
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(bytes.size() == 4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof text);
  return text;
}

// The unix: folders the allowlist was given (as written), to check allows_socket against.
std::vector<std::string> unix_folders;

void check_backend(const BackendAllowlist& allowlist, std::string_view entry) {
  const auto parsed = parse_backend(entry);
  if (!parsed) {
    fuzz::require(parsed.error().find("backend '") == 0, "a refused backend's error does not name it");
    return;
  }
  const auto& t = parsed.value();
  if (t.record) {
    // The built-in recorder: no network, nothing for the allowlist; its shape is always binary frames.
    fuzz::require(entry.substr(0, 7) == "record:" && t.host.empty() && t.name().rfind("record:", 0) == 0,
                  "a record: target that is not what its entry says", std::string(entry));
    fuzz::require(t.shape.frames == audio::Framing::binary, "a recording not in binary frames", std::string(entry));
    return;
  }
  if (!t.socket_path.empty()) {
    // A Unix socket: an absolute, lexically normal path sockaddr_un holds, and a request path.
    const auto& path = t.socket_path;
    fuzz::require(entry.substr(0, 5) == "unix:" && path.size() >= 2 && path.size() <= 107 && path.front() == '/' &&
                      path.back() != '/',
                  "a unix: socket path that is not absolute, or too long", path);
    fuzz::require(path.find("//") == std::string::npos && path.find("/./") == std::string::npos &&
                      path.find("/../") == std::string::npos && !path.ends_with("/.") && !path.ends_with("/.."),
                  "a unix: socket path that is not lexically normal", path);
    fuzz::require(path.find(':') == std::string::npos, "a unix: socket path holds ':'", path);
    fuzz::require(!t.target.empty() && t.target.front() == '/' && t.port == 0 && !t.tls,
                  "a unix: backend without a request path, or with a port", t.name());
    for (const char c : t.target) {
      fuzz::require(static_cast<unsigned char>(c) > 0x20 && c != 0x7F, "a backend path holds a space or control byte",
                    t.target);
    }
    // An allowed socket is below one of the list's unix: folders (a '/' after the folder's name).
    if (allowlist.allows_socket(path)) {
      bool below = false;
      for (auto folder : unix_folders) {
        while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
        below = below || (path.size() > folder.size() + 1 && path.starts_with(folder + "/"));
      }
      fuzz::require(below, "a socket allowed below no unix: folder of the list", path);
    }
    // What log lines name it: the query cut to "?…" (it may carry credentials).
    const auto logged = t.name();
    if (const auto query = t.target.find('?'); query != std::string::npos) {
      const auto secret = t.target.substr(query + 1);
      fuzz::require(logged.ends_with("?…") && (secret.size() < 8 || logged.find(secret) == std::string::npos),
                    "a unix: backend's logged name shows its query", logged);
    }
    return;
  }
  fuzz::require(!t.host.empty() && t.port != 0 && !t.target.empty() && t.target.front() == '/',
                "a backend without a host, a port or a path parsed", t.url());
  for (const char c : t.host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == ':';
    fuzz::require(ok, "a backend host holds a byte other than a-z 0-9 . - _ :", t.url());
  }
  for (const char c : t.target) {
    fuzz::require(static_cast<unsigned char>(c) > 0x20 && c != 0x7F, "a backend path holds a space or control byte",
                  t.url());
  }
  in_addr number{};
  fuzz::require(!net::ip_bytes(t.host).empty() || inet_aton(t.host.c_str(), &number) == 0,
                "a backend host that is no IP literal reads as an IPv4 number to the resolver", t.host);

  // What log lines name: the path cut, no query.
  const auto logged = t.logged_url();
  const auto query = t.target.find('?');
  fuzz::require(query == std::string::npos ? logged.find('?') == std::string::npos
                                           : logged.size() >= 4 && logged.compare(logged.size() - 4, 4, "?…") == 0,
                "a backend's logged URL shows its query", logged);
  fuzz::require(logged.size() <= t.url().size() + 4 && logged.size() <= 8 + t.host.size() + 2 + 6 + 256 + 3 + 4,
                "a backend's logged URL is longer than its bounds", logged);

  // An entry's audio options are its own: the address part parses to the same backend without them.
  if (const auto hash = entry.find('#'); hash != std::string_view::npos) {
    const auto bare = parse_backend(entry.substr(0, hash));
    fuzz::require(bare.ok() && bare.value().url() == t.url(), "a backend's audio options change its address",
                  std::string(entry));
  } else {
    fuzz::require(t.shape.is_default(), "a backend entry without '#' has a shape other than Twilio's", t.url());
  }

  // url() is the whole URL: it reads back as the same backend (but for a host name
  // that starts with an IPv4 address, which Boost.URL 1.81 cannot read in a URL: net/endpoint.cpp).
  const auto again = parse_backend(t.url());
  if (again || again.error().find("starts with an IPv4 address") == std::string::npos) {
    fuzz::require(again.ok(), "a backend's url() does not parse", t.url());
    fuzz::require(again.value().host == t.host && again.value().port == t.port && again.value().target == t.target &&
                      again.value().tls == t.tls,
                  "a backend's url() parses to another backend", t.url());
  }

  const auto address = resolved_form(t.host);
  const bool before = allowlist.may_allow(t.host, t.port);
  if (!address.empty()) {
    // An IP literal is judged by its address, whatever its spelling, before and after resolution.
    const bool after = allowlist.allows(t.host, address, t.port);
    fuzz::require(before == after, "the allowlist judges an IP literal differently before and after resolution",
                  t.host);
    fuzz::require(allowlist.allows(address, address, t.port) == after,
                  "the allowlist judges two spellings of one address differently", t.host + " / " + address);
  } else if (!before) {
    // A name refused before resolution is refused whatever it resolves to.
    for (const char* resolved : {"127.0.0.1", "::1", "10.0.0.1", "::ffff:127.0.0.1", "fd00::1"}) {
      fuzz::require(!allowlist.allows(t.host, resolved, t.port), "a name refused before resolution is allowed after",
                    t.host);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16 * 1024) return -1;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  auto patterns = fuzz::take_line(rest);
  BackendAllowlist allowlist;
  unix_folders.clear();
  while (!patterns.empty()) {
    const auto comma = patterns.find(',');
    try {
      allowlist.add(patterns.substr(0, comma));
      if (patterns.substr(0, comma).starts_with("unix:")) unix_folders.emplace_back(patterns.substr(5, comma - 5));
    } catch (const std::invalid_argument& e) {
      fuzz::require(std::string_view(e.what()).find("--backend-allow '") == 0,
                    "a refused pattern's error does not name it");
    }
    patterns = comma == std::string_view::npos ? std::string_view{} : patterns.substr(comma + 1);
  }
  check_backend(allowlist, rest);
  const auto hosts = parse_backend_hosts(rest);
  if (hosts) {
    for (const auto& entry : hosts.value()) check_backend(allowlist, entry);
  }
  return 0;
}
