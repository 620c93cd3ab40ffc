// Percent-decoding as URLs and form bodies use it, tolerant like Node: a '%' not followed by two
// hex digits is kept as it is.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callproxy::twilio {

// `plus_is_space`: application/x-www-form-urlencoded ('+' is a space); false for URL paths.
std::string percent_decode(std::string_view text, bool plus_is_space);
// Strict: nullopt when a '%' is not followed by two hex digits (for credentials in a URL, where
// a mistyped escape must be an error, not a different password).
std::optional<std::string> percent_decode_strict(std::string_view text);

// Percent-encodes every byte except ASCII letters, digits and `unreserved` (uppercase hex).
std::string percent_encode(std::string_view text, std::string_view unreserved);

// An application/x-www-form-urlencoded text (a form body or a query string) as its decoded
// key/value pairs, in order, repeated keys kept; "k" alone is k with an empty value.
std::vector<std::pair<std::string, std::string>> parse_form(std::string_view text);

}  // namespace callproxy::twilio
