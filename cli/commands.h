// One setup function per subcommand: it declares the flags on `parent` and returns the
// function that runs the subcommand with the parsed options (an exit code).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/result.h"

namespace CLI {
class App;
}

namespace callproxy::cli {

struct ServeFlags;

using RunFunction = std::function<int()>;

RunFunction setup_serve(CLI::App& parent);
// The same, parsing into `flags` (what SIGHUP's reload reads the settings from).
RunFunction setup_serve(CLI::App& parent, const std::shared_ptr<ServeFlags>& flags);
RunFunction setup_sign(CLI::App& parent);
RunFunction setup_client_test(CLI::App& parent);
RunFunction setup_local_speaker(CLI::App& parent);

// What the Node service's REMOTE_CACHE_ENABLED + REDIS_HOST ask for. When REMOTE_CACHE_ENABLED is
// true, they set the store: serve uses it when neither --store nor CALLPROXY_STORE is given (and
// it wins over a config file's store).
struct NodeCache {
  bool enabled = false;              // REMOTE_CACHE_ENABLED is true (cli/boolean.h)
  std::optional<std::string> store;  // REDIS_HOST as a store URL, when enabled and set
};
// An error when REMOTE_CACHE_ENABLED is set to something that is not a boolean.
Result<NodeCache> node_cache();

// Exit codes every subcommand shares.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;  // the command ran and the answer is "no" / it failed
inline constexpr int exit_usage = 2;    // bad flags, values or input files

}  // namespace callproxy::cli
