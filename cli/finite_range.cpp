#include "cli/finite_range.h"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace callproxy::cli {

std::string number_text(double value) {
  std::ostringstream out;
  out << std::setprecision(12) << value;
  return out.str();
}

std::string check_finite_in_range(const std::string& text, double min, double max) {
  const auto range = number_text(min) + " to " + number_text(max);
  double value = 0;
  if (!CLI::detail::lexical_cast(text, value)) return "Value " + text + " is not a number: expected " + range;
  if (!std::isfinite(value)) return "Value " + text + " is not a finite number: expected " + range;
  if (value < min || value > max) return "Value " + text + " not in range " + range;
  return {};
}

CLI::Validator finite_range(double min, double max) {
  return CLI::Validator([min, max](std::string& text) { return check_finite_in_range(text, min, max); },
                        "FLOAT in [" + number_text(min) + " - " + number_text(max) + "]");
}

}  // namespace callproxy::cli
