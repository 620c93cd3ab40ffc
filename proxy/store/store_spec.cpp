// --store's text read into a StoreSpec, and --redis-keys: what serve's command line and config
// file say about the state store, checked before any store is opened. A redis URL may carry a
// password, so no error repeats one.
#include "proxy/store/store_spec.h"

#include <charconv>
#include <optional>

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
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("unclosed '[' in the redis host");
    host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("expected ':PORT' after the redis host");
      port = after.substr(1);
      if (port.empty()) return fail("redis port must be 1-65535, got ''");
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return fail("redis port must be 1-65535, got ''");
  }
  if (!port.empty()) {
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
      return fail("redis port must be 1-65535, got '" + std::string(port) + "'");
    }
    redis.port = static_cast<std::uint16_t>(value);
  }
  if (host.empty()) return fail("redis[s]://HOST[:PORT][/DB] needs a host");
  if (host.find_first_of(" /@[]") != std::string_view::npos)
    return fail("invalid redis host '" + std::string(host) + "'");
  redis.host = std::string(host);
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
