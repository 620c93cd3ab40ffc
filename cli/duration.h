// One way to write a duration, for every duration setting of every subcommand (flag, environment
// variable or config file key): seconds as a number ("30", "0.5"), or a number with a unit
// ("250ms", "5s", "2m", "1h"). Before, one flag took milliseconds and the rest seconds.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace callproxy::cli {

struct DurationRange {
  double min_seconds = 0.0;
  double max_seconds = 86400.0;
  bool whole_seconds = false;  // for settings kept in whole seconds (TTLs, TwiML's timeout)
};

// The duration `text` says, rounded to the millisecond, or why it says none: not a number, NaN or
// an infinity ("Value nan is not a finite number ..."), out of range, or not whole seconds.
Result<std::chrono::milliseconds> parse_duration(std::string_view text, const DurationRange& range);

// "30", "0.5", "0.025": a duration as a setting's default is written.
std::string duration_text(std::chrono::milliseconds duration);

// Declares a duration setting that calls `set` with what it parsed. Its type reads DURATION in
// --help, the config template and the settings reference.
CLI::Option* add_duration(CLI::App& app, const std::string& name, std::function<void(std::chrono::milliseconds)> set,
                          const std::string& default_text, const std::string& help, const DurationRange& range);

// The common case: a duration held in `target` (milliseconds or seconds), its default what it holds.
template <class Duration>
CLI::Option* add_duration(CLI::App& app, const std::string& name, Duration& target, const std::string& help,
                          const DurationRange& range) {
  return add_duration(
      app, name, [&target](std::chrono::milliseconds value) { target = std::chrono::duration_cast<Duration>(value); },
      duration_text(std::chrono::duration_cast<std::chrono::milliseconds>(target)), help, range);
}

}  // namespace callproxy::cli
