#include "cli/environment.h"

#include <cstdlib>

namespace callproxy::cli {

EnvironmentValue environment_value(const std::string& name) {
  const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read at start-up, before threads
  if (value == nullptr) return EnvironmentValue::unset;
  return *value == '\0' ? EnvironmentValue::empty : EnvironmentValue::given;
}

}  // namespace callproxy::cli
