// What --store and --redis-keys name: the state store serve opens (memory, a SQLite file, or a
// Redis server and how to reach it), parsed from its flags' text apart from any store's code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "core/result.h"

namespace callproxy::proxy {

// Which keys the Redis store reads and writes.
enum class RedisKeys {
  // The Node twilio-call-proxy's keys and values, so old and new instances share one Redis:
  // blocked-callers-<id> = {"id","blockedOn"} (no expiry), auth-attempts-<id> = the count as
  // decimal text (EX the attempts TTL, restarted by each failure), executions-<id> = the id (EX 5).
  // Listing the blocked callers scans the keyspace (KEYS blocked-callers*), as the Node service did.
  node,
  // callproxy's own: callproxy:attempts:<id>, one hash callproxy:blocked (listing reads one key),
  // callproxy:execution:<id>.
  callproxy,
};
// Used stream tokens are callproxy's alone, under either: callproxy:stream-token:<token id>
// (SET NX PX: whoever sets it first has claimed the token).

// --store: "memory", "sqlite:PATH" or "redis[s]://[[USER]:PASSWORD@]HOST[:PORT][/DB]".
struct StoreSpec {
  struct Memory {};
  struct Sqlite {
    std::string path;
  };
  struct Redis {
    std::string host;
    std::uint16_t port = 6379;
    int db = 0;
    bool tls = false;      // rediss://: TLS, the server's certificate verified against its name
    std::string user;      // AUTH user password (a Redis 6 ACL user) when set, else AUTH password
    std::string password;  // never logged; empty: no AUTH
    RedisKeys keys = RedisKeys::node;
    std::string ca_file;  // rediss://: a CA trusted besides the system's
  };
  std::variant<Memory, Sqlite, Redis> kind;
};
// User and password in the URL are percent-decoded; an IPv6 host is written in brackets.
Result<StoreSpec> parse_store_spec(std::string_view text);
Result<RedisKeys> parse_redis_keys(std::string_view text);  // "node" or "callproxy"

}  // namespace callproxy::proxy
