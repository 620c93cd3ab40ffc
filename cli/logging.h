// Log output for every subcommand: human text (default; control bytes in a message escaped, see
// core/log_escape.h) or one JSON object per line.
#pragma once

#include <string>

namespace callproxy::cli {

struct LogOptions {
  std::string level = "info";   // trace|debug|info|warn|error|off
  std::string format = "text";  // text|json
};

void configure_logging(const LogOptions& options);

}  // namespace callproxy::cli
