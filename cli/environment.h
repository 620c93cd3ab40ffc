// What an environment variable holds, as the command line reads it at start-up (before any thread
// exists, so getenv is safe). CLI11 takes a variable set to "" for an unset one; some settings
// must tell the two apart (an empty SERVER_API_KEY= is a mistake, not "no key").
#pragma once

#include <string>

namespace callproxy::cli {

enum class EnvironmentValue { unset, empty, given };

EnvironmentValue environment_value(const std::string& name);

// Set to something: what CLI11 counts as the variable given.
inline bool environment_has(const std::string& name) { return environment_value(name) == EnvironmentValue::given; }

}  // namespace callproxy::cli
