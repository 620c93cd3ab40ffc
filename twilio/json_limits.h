// Parsing JSON that came from outside (Twilio, backends, HTTP clients, the identity API, files)
// with its nesting bounded: nlohmann/json parses iteratively, but dumping, copying and comparing
// recurse once per level, so a sender who may nest without limit may exhaust the stack.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace callproxy::twilio {

// Deeper than anything Twilio, a backend, the identity API or a pins file sends (their messages
// nest 2-4 levels), and shallow enough that any recursion over the value is harmless.
inline constexpr std::size_t max_json_depth = 32;

// True when `text` opens no more than `max_depth` arrays/objects at once, counting brackets
// outside strings (escapes honoured). One pass, no recursion, no allocation; it does not check
// that the text is valid JSON.
bool json_depth_within(std::string_view text, std::size_t max_depth = max_json_depth);

// At least as many as the values `text` holds (scalars, arrays and objects): one per opening
// bracket and per comma outside strings, plus one. One pass, no allocation: what a body would
// cost to parse is known before it is parsed.
std::size_t json_value_bound(std::string_view text);

// Parses `text` without throwing: "not valid JSON", or "JSON nested deeper than N levels" before
// any parsing is done.
Result<nlohmann::json> parse_json_bounded(std::string_view text, std::size_t max_depth = max_json_depth);

}  // namespace callproxy::twilio
