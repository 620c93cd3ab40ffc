// --store's text read into a StoreSpec, and --redis-keys: what serve's command line and config
// file say about the state store, checked before any store is opened. A redis URL may carry a
// password, so no error repeats one.
#include "proxy/store/store_spec.h"

#include <charconv>
#include <optional>
#include <utility>

#include "net/endpoint.h"
#include "twilio/percent_encoding.h"

namespace callproxy::proxy {
namespace {

Result<StoreSpec> parse_redis_url(std::string_view text) {
  const auto fail = [](const std::string& why) { return Error{"--store: " + why}; };
  StoreSpec::Redis redis;
  redis.tls = text.rfind("rediss://", 0) == 0;
  auto rest = text.substr(redis.tls ? 9 : 8);
  if (rest.find_first_of("?#") != std::string_view::npos) return fail("a redis URL takes no query or fragment");
  // [[user]:password@]host[:port][/db]; the password may be anything but '@' (or %40), so the
  // host starts after the last '@'.
  std::string_view authority = rest;
  if (const auto slash = rest.find('/', rest.rfind('@') == std::string_view::npos ? 0 : rest.rfind('@'));
      slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    const auto db = rest.substr(slash + 1);
    if (!db.empty()) {
      const auto [ptr, ec] = std::from_chars(db.data(), db.data() + db.size(), redis.db);
      if (ec != std::errc() || ptr != db.data() + db.size() || redis.db < 0) {
        return fail("redis database must be a number, got '" + std::string(db) + "'");
      }
    }
  }
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = userinfo.find(':');
    const auto user = twilio::percent_decode_strict(userinfo.substr(0, colon));
    const auto password = colon == std::string_view::npos ? std::optional<std::string>("")
                                                          : twilio::percent_decode_strict(userinfo.substr(colon + 1));
    if (!user || !password) return fail("bad %-escape in the redis URL's user or password");
    redis.user = *user;
    redis.password = *password;
    if (colon == std::string_view::npos && !redis.user.empty()) {
      return fail("redis URL names user '" + redis.user + "' without a password (redis://USER:PASSWORD@HOST)");
    }
  }
  // HOST, [IPv6] or either with :PORT, split as every host:port is (net/endpoint.h); no port
  // is Redis's own (6379).
  const bool bracketed = !authority.empty() && authority.front() == '[';
  std::string host;
  if (!bracketed && authority.find(':') == std::string_view::npos) {
    host = std::string(authority);
  } else if (bracketed && authority.find(']') == authority.size() - 1) {
    host = std::string(authority.substr(1, authority.size() - 2));
  } else {
    auto split = net::split_host_port(authority);
    if (!split) {
      if (!bracketed) return fail("an IPv6 redis host is written in brackets: redis://[ADDRESS]:PORT");
      if (authority.find(']') == std::string_view::npos) return fail("unclosed '[' in the redis host");
      return fail("expected ':PORT' after the redis host");
    }
    const auto port = net::parse_port(split->second);
    if (!port) return fail("redis port must be 1-65535, got '" + split->second + "'");
    host = std::move(split->first);
    redis.port = *port;
  }
  if (host.empty()) return fail("redis[s]://HOST[:PORT][/DB] needs a host");
  if (host.find_first_of(" /@[]") != std::string_view::npos)
    return fail("invalid redis host '" + std::string(host) + "'");
  redis.host = std::move(host);
  return StoreSpec{redis};
}

}  // namespace

Result<StoreSpec> parse_store_spec(std::string_view text) {
  if (text == "memory") return StoreSpec{StoreSpec::Memory{}};
  if (text.rfind("sqlite:", 0) == 0) {
    const auto path = text.substr(7);
    if (path.empty()) return Error{"--store sqlite:PATH needs a path"};
    return StoreSpec{StoreSpec::Sqlite{std::string(path)}};
  }
  if (text.rfind("redis://", 0) == 0 || text.rfind("rediss://", 0) == 0) return parse_redis_url(text);
  // Never echo a redis URL back: it may hold a password.
  if (text.find('@') != std::string_view::npos) {
    return Error{"--store must be memory, sqlite:PATH or redis[s]://[USER:PASSWORD@]HOST[:PORT][/DB]"};
  }
  return Error{"--store must be memory, sqlite:PATH or redis[s]://[USER:PASSWORD@]HOST[:PORT][/DB], got '" +
               std::string(text) + "'"};
}

Result<RedisKeys> parse_redis_keys(std::string_view text) {
  if (text == "node") return RedisKeys::node;
  if (text == "callproxy") return RedisKeys::callproxy;
  return Error{"--redis-keys must be node or callproxy, got '" + std::string(text) + "'"};
}

}  // namespace callproxy::proxy
