#include "proxy/media/backend_target.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/ascii_case.h"
#include "core/log_text.h"
#include "twilio/json_limits.h"

namespace callproxy::proxy {

namespace {

constexpr std::string_view record_prefix = "record:";
constexpr std::string_view unix_prefix = "unix:";
// sockaddr_un's sun_path is 108 bytes, the terminating NUL included.
constexpr std::size_t max_socket_path = 107;

// "unix:/path[:/target]" without its options: the socket and the WebSocket's request target.
Result<BackendTarget> parse_unix(std::string_view address) {
  const auto rest = address.substr(unix_prefix.size());
  const auto colon = rest.find(':');
  const auto path = rest.substr(0, colon);
  if (path.empty() || path.front() != '/') return Error{"a Unix socket's path must be absolute (unix:/run/bot.sock)"};
  if (path.size() > max_socket_path) return Error{"a Unix socket's path is at most 107 bytes"};
  if (path.back() == '/') return Error{"a Unix socket's path names a file, not a folder"};
  for (const char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == ' ') {
      return Error{"a Unix socket's path has no spaces or control characters"};
    }
  }
  // Lexically normal, so an allowlist's folder is the folder it looks like.
  for (std::size_t at = 1; at <= path.size();) {
    const auto end = std::min(path.find('/', at), path.size());
    const auto part = path.substr(at, end - at);
    if (part.empty() || part == "." || part == "..") {
      return Error{"a Unix socket's path has no empty, '.' or '..' parts"};
    }
    at = end + 1;
  }
  BackendTarget t;
  t.socket_path = std::string(path);
  t.host = "localhost";
  t.port = 0;
  t.target = "/media";
  if (colon != std::string_view::npos) {
    const auto target = rest.substr(colon + 1);
    if (target.empty() || target.front() != '/') {
      return Error{"after the socket's path, ':' starts the request's path (unix:/run/bot.sock:/media)"};
    }
    for (const char c : target) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return Error{"invalid path"};
    }
    t.target = std::string(target);
  }
  return t;
}

// "record:[inbound|stereo|mix][#options]": the recorder's shape, always in binary frames.
Result<BackendTarget> parse_record(std::string_view entry) {
  const auto rest = entry.substr(record_prefix.size());
  const auto hash = rest.find('#');
  const auto word = rest.substr(0, hash);
  std::string options = hash == std::string_view::npos ? std::string() : std::string(rest.substr(hash + 1));
  if (hash != std::string_view::npos && options.empty()) return Error{"nothing after '#': expected audio=…"};
  if (options.find("frames=") != std::string::npos) return Error{"a recording is a file: it takes no frames="};
  if (options.find("tracks=both") != std::string::npos) {
    return Error{"a recording is one file: record:stereo holds both sides"};
  }
  if (!word.empty()) {
    if (word != "inbound" && word != "stereo" && word != "mix") {
      return Error{"record:" + logged_text(word, 32) + ": expected record:, record:stereo or record:mix"};
    }
    if (options.find("tracks=") != std::string::npos)
      return Error{"tracks given twice (record:" + std::string(word) + ")"};
    options += (options.empty() ? "tracks=" : "&tracks=") + std::string(word);
    if (word == "stereo" && options.find("audio=") == std::string::npos) options += "&audio=pcm16@8000";
  }
  options += options.empty() ? "frames=binary" : "&frames=binary";
  auto shape = audio::parse_audio_options(options);
  if (!shape) return Error{shape.error()};
  if (shape.value().tracks == audio::Tracks::both)
    return Error{"a recording is one file: record:stereo holds both sides"};
  BackendTarget t;
  t.record = true;
  t.shape = shape.value();
  return t;
}

}  // namespace

std::string BackendTarget::name() const {
  if (!socket_path.empty()) {
    // As logged_url() does: the query may carry the backend's credentials.
    const auto query = target.find('?');
    return "unix:" + logged_text(socket_path, 128) + ":" + logged_text(std::string_view(target).substr(0, query), 256) +
           (query == std::string::npos ? "" : "?…");
  }
  if (!record) return logged_url();
  std::string n = "record:";
  if (shape.tracks != audio::Tracks::inbound) n += shape.tracks_name();
  if (shape.tracks != audio::Tracks::stereo || shape.codec != audio::Codec::pcm16 || shape.rate != 8000) {
    if (shape.codec != audio::Codec::mulaw || shape.rate != 8000) n += "#audio=" + shape.audio_name();
  }
  return n;
}

Result<BackendTarget> parse_backend(std::string_view whole_entry) {
  const auto fail = [&](std::string_view why) {
    return Error{"backend '" + logged_text(whole_entry) + "': " + std::string(why)};
  };
  if (whole_entry.substr(0, record_prefix.size()) == record_prefix) {
    auto recorder = parse_record(whole_entry);
    if (!recorder) return fail(recorder.error());
    return recorder;
  }
  const auto shaped = audio::split_shaped_entry(whole_entry);
  if (!shaped) return fail(shaped.error());
  const auto entry = shaped.value().address;
  if (entry.substr(0, unix_prefix.size()) == unix_prefix) {
    auto local = parse_unix(entry);
    if (!local) return fail(local.error());
    local.value().shape = shaped.value().shape;
    return local;
  }
  if (entry.find("://") != std::string_view::npos) {
    auto url = net::parse_url(entry, net::UrlScheme::websocket);
    if (!url) return fail(url.error());
    if (url.value().target.find_first_of(" \r\n\t") != std::string::npos) return fail("invalid path");
    BackendTarget t;
    static_cast<net::Endpoint&>(t) = std::move(url.value());
    t.shape = shaped.value().shape;
    return t;
  }
  // The Node service's convention: host:port means ws://host:port/media, and a host without a
  // port (a name, an IPv4 address or a bracketed IPv6 one) port 80, as its ws:// URL had it.
  auto hp = net::split_host_port(entry);
  if (!hp && entry.find(':') == std::string_view::npos) hp.emplace(std::string(entry), "80");
  if (!hp && entry.size() > 2 && entry.front() == '[' && entry.back() == ']')
    hp.emplace(std::string(entry.substr(1, entry.size() - 2)), "80");
  if (!hp) return fail("expected host, host:port or a ws:// or wss:// URL");
  const auto port = net::parse_port(hp->second);
  if (!port) return fail("port must be 1-65535");
  if (!net::valid_host(hp->first)) return fail("invalid host");
  BackendTarget t;
  t.host = lower_ascii(hp->first);
  t.port = *port;
  t.target = "/media";
  t.shape = shaped.value().shape;
  return t;
}

Result<std::vector<std::string>> parse_backend_hosts(std::string_view json_text) {
  const auto parsed = twilio::parse_json_bounded(json_text);
  if (!parsed || !parsed.value().is_array()) {
    return Error{"backendHosts must be a JSON array of strings, got '" + std::string(json_text.substr(0, 200)) + "'"};
  }
  std::vector<std::string> out;
  for (const auto& entry : parsed.value()) {
    if (!entry.is_string()) return Error{"backendHosts entries must be strings"};
    out.push_back(entry.get<std::string>());
  }
  return out;
}

}  // namespace callproxy::proxy
