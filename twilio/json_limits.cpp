#include "twilio/json_limits.h"

#include <string>

namespace callproxy::twilio {

namespace {

// Calls `f(c)` for every byte of `text` outside strings (escapes honoured) while it returns true;
// false when `f` stopped the scan.
template <class F>
bool for_each_outside_strings(std::string_view text, F f) {
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (!f(c)) return false;
  }
  return true;
}

}  // namespace

bool json_depth_within(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  return for_each_outside_strings(text, [&](char c) {
    if (c == '[' || c == '{') return ++depth <= max_depth;
    if ((c == ']' || c == '}') && depth > 0) --depth;  // an unbalanced close is the parser's to refuse
    return true;
  });
}

std::size_t json_value_bound(std::string_view text) {
  std::size_t values = 1;
  for_each_outside_strings(text, [&](char c) {
    if (c == ',' || c == '[' || c == '{') ++values;
    return true;
  });
  return values;
}

Result<nlohmann::json> parse_json_bounded(std::string_view text, std::size_t max_depth) {
  if (!json_depth_within(text, max_depth)) {
    return Error{"JSON nested deeper than " + std::to_string(max_depth) + " levels"};
  }
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Error{"not valid JSON"};
  return Result<nlohmann::json>(std::move(parsed));
}

}  // namespace callproxy::twilio
