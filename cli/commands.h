// One setup function per subcommand: it declares the flags on `parent` and returns the
// function that runs the subcommand with the parsed options (an exit code).
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace callproxy::cli {

using RunFunction = std::function<int()>;

RunFunction setup_serve(CLI::App& parent);
RunFunction setup_sign(CLI::App& parent);
RunFunction setup_client_test(CLI::App& parent);
RunFunction setup_local_speaker(CLI::App& parent);

// The store the Node service's REMOTE_CACHE_ENABLED + REDIS_HOST ask for, if they do: serve uses
// it when neither --store nor CALLPROXY_STORE is given (and it wins over a config file's store).
std::optional<std::string> node_cache_store();

// Exit codes every subcommand shares.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;  // the command ran and the answer is "no" / it failed
inline constexpr int exit_usage = 2;    // bad flags, values or input files

}  // namespace callproxy::cli
