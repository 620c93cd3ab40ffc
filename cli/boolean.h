// Booleans as the Node service read its variables (ENABLE_DEBUG_ROUTES, VALIDATE_EXTERNAL_CALLS,
// REMOTE_CACHE_ENABLED): a permissive parser, so a deployment's `TRUE`, `t` or `on` keeps its
// meaning. Every boolean setting of serve reads its values this way (flag, variable, config file),
// and a value it does not know is an error, never a silent default.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace callproxy::cli {

// true/t/yes/y/on/1 -> true, false/f/no/n/off/0 -> false, in any case; nothing else.
std::optional<bool> parse_boolean(std::string_view text);

// What parse_boolean takes, for the error that refuses anything else.
inline const std::string boolean_words = "true, t, yes, y, on or 1; false, f, no, n, off or 0 (any case)";

}  // namespace callproxy::cli
