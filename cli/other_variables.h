// Settings that environment variables besides their own set too: the Node service's
// REMOTE_CACHE_ENABLED + REDIS_HOST set --store, its SERVER_API_TIMEOUT_MS (milliseconds) sets
// --pin-api-timeout. Declared where the flag is declared (cli/serve_flags_*.cpp), read by whatever
// must know whether the environment gives a setting (the config file, whose keys the environment
// overrides), without that reader naming any flag.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace callproxy::cli {

// Declares that `given` says whether other variables set `option` now. Returns `option`.
CLI::Option* also_set_by(CLI::Option* option, std::function<bool()> given);

// Whether a variable other than the option's own sets it, as also_set_by declared (false when
// nothing was declared).
bool set_by_other_variables(const CLI::Option& option);

}  // namespace callproxy::cli
