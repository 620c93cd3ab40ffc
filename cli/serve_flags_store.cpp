// serve's State store settings (proxy/store: which store, its limits, Redis's keys and TLS).
#include "cli/commands.h"
#include "cli/other_variables.h"
#include "cli/serve_flags.h"

namespace callproxy::cli {

void add_store_flags(CLI::App& app, proxy::ServeOptions& options) {
  app.option_defaults()->group(group::store);
  auto* store = app.add_option("--store", options.store,
                               "State store: sqlite:PATH, redis[s]://[[USER]:PASSWORD@]HOST[:PORT][/DB] or memory; "
                               "the variable, else REMOTE_CACHE_ENABLED + REDIS_HOST (the Node service's)")
                    ->envname("CALLPROXY_STORE")
                    ->check([](const std::string& text) {
                      auto spec = proxy::parse_store_spec(text);
                      return spec ? std::string() : spec.error();
                    })
                    ->capture_default_str();
  // REMOTE_CACHE_ENABLED=true sets it, with or without REDIS_HOST (serve refuses the latter): a
  // file's sqlite store must not stand in for the Redis the environment asks for.
  also_set_by(store, [] {
    auto cache = node_cache();
    return cache && cache.value().enabled;
  });
  app.add_option("--store-max-queue", options.store_limits.max_queued,
                 "Store operations that may wait at once (SQLite: queued for the file; Redis: awaiting replies); "
                 "beyond it the routes that need the store answer 503 at once")
      ->envname("CALLPROXY_STORE_MAX_QUEUE")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  add_choice(app, "--redis-keys", options.redis_keys,
             {{"node", proxy::RedisKeys::node}, {"callproxy", proxy::RedisKeys::callproxy}},
             "Redis keys: node (the Node service's, shared with its instances) or callproxy")
      ->envname("CALLPROXY_REDIS_KEYS");
  app.add_option("--redis-password", options.redis_password,
                 "Redis password (AUTH) when the redis URL carries none (never logged)")
      ->envname("REDIS_PASSWORD");
  app.add_option("--redis-ca", options.redis_ca, "Extra CA certificate file for a rediss:// store (PEM)")
      ->envname("CALLPROXY_REDIS_CA")
      ->check(CLI::ExistingFile);
}

}  // namespace callproxy::cli
