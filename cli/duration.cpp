#include "cli/duration.h"

#include <cmath>
#include <utility>

#include "cli/finite_range.h"

namespace callproxy::cli {
namespace {

struct Unit {
  std::string_view suffix;
  double seconds;
};
// Longest suffix first: "ms" before "s".
constexpr Unit units[] = {{"ms", 0.001}, {"s", 1.0}, {"m", 60.0}, {"h", 3600.0}};

std::string range_text(const DurationRange& range) {
  return number_text(range.min_seconds) + " to " + number_text(range.max_seconds) + " seconds";
}

// "0.1 s to 600 s", "1 s to 86400 s": the range as --help shows it after the type.
std::string help_range_text(const DurationRange& range) {
  return number_text(range.min_seconds) + " s to " + number_text(range.max_seconds) + " s";
}

}  // namespace

Result<std::chrono::milliseconds> parse_duration(std::string_view text, const DurationRange& range) {
  std::string_view number = text;
  double scale = 1.0;
  for (const auto& unit : units) {
    if (number.size() > unit.suffix.size() && number.substr(number.size() - unit.suffix.size()) == unit.suffix &&
        std::isdigit(static_cast<unsigned char>(number[number.size() - unit.suffix.size() - 1]))) {
      number.remove_suffix(unit.suffix.size());
      scale = unit.seconds;
      break;
    }
  }
  const std::string value_text(text);
  double value = 0;
  if (number.empty() || !CLI::detail::lexical_cast(std::string(number), value)) {
    return Error{"Value " + value_text +
                 " is not a duration: expected seconds (1.5) or a number with a unit (250ms, 5s, " + "2m, 1h), " +
                 range_text(range)};
  }
  if (!std::isfinite(value))
    return Error{"Value " + value_text + " is not a finite number: expected " + range_text(range)};
  const double seconds = value * scale;
  if (seconds < range.min_seconds || seconds > range.max_seconds) {
    return Error{"Value " + value_text + " not in range " + range_text(range)};
  }
  const auto ms = static_cast<long long>(std::llround(seconds * 1000.0));
  if (range.whole_seconds && ms % 1000 != 0) {
    return Error{"Value " + value_text + " is not a whole number of seconds"};
  }
  return std::chrono::milliseconds(ms);
}

std::string duration_text(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000);
  auto text = std::to_string(ms / 1000) + "." + std::to_string(1000 + ms % 1000).substr(1);
  while (text.back() == '0') text.pop_back();
  return text;
}

CLI::Option* add_duration(CLI::App& app, const std::string& name, std::function<void(std::chrono::milliseconds)> set,
                          const std::string& default_text, const std::string& help, const DurationRange& range) {
  return app
      .add_option_function<std::string>(
          name,
          [set = std::move(set), range](const std::string& text) {
            set(parse_duration(text, range).value());  // checked by the validator first
          },
          help)
      ->check(CLI::Validator(
          [range](std::string& text) {
            auto parsed = parse_duration(text, range);
            return parsed ? std::string() : parsed.error();
          },
          help_range_text(range) + (range.whole_seconds ? ", whole" : "")))
      ->type_name("DURATION")
      ->default_str(default_text);
}

}  // namespace callproxy::cli
