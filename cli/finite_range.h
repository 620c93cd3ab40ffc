// The check every floating-point setting of every subcommand goes through, whether it comes as a
// flag, an environment variable or a config file's key. CLI11's Range only compares, and NaN
// compares false both ways: `nan` passed every range and switched off what the setting bounds (a
// --pin-failure-window of NaN refused no wrong PIN; a --start-timeout of NaN closed every stream
// at once). strtod also reads "inf" and "infinity", which no setting means either.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace callproxy::cli {

// 0.1, 600, 86400: a bound as a user writes it (up to 12 significant digits), for the messages and
// --help of every numeric setting, durations included.
std::string number_text(double value);

// "" when `text` is a finite number (as CLI11 reads one) from `min` to `max`, else why not.
std::string check_finite_in_range(const std::string& text, double min, double max);

// The same check as a CLI11 validator, for ->check().
CLI::Validator finite_range(double min, double max);

}  // namespace callproxy::cli
