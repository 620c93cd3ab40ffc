#include "cli/boolean.h"

#include <array>

#include "core/ascii_case.h"

namespace callproxy::cli {

std::optional<bool> parse_boolean(std::string_view text) {
  static constexpr std::array<std::string_view, 6> yes{"true", "t", "yes", "y", "on", "1"};
  static constexpr std::array<std::string_view, 6> no{"false", "f", "no", "n", "off", "0"};
  const auto word = lower_ascii(text);
  for (const auto candidate : yes) {
    if (word == candidate) return true;
  }
  for (const auto candidate : no) {
    if (word == candidate) return false;
  }
  return std::nullopt;
}

}  // namespace callproxy::cli
