#include "twilio/json_limits.h"

#include <string>

namespace callproxy::twilio {

bool json_depth_within(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;  // an unbalanced close is the parser's to refuse
    }
  }
  return true;
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
