// Caller IDs in one spelling: what attempts and blocks are kept under, so that a caller blocked as
// +15557654321 is the same record when it comes back as "1 (555) 765-4321" or in fullwidth digits.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace callproxy::proxy {

// Longest caller ID and PIN a request may carry (as sent, before normalising): E.164 numbers are
// 16 bytes and SIP URIs rarely 100; these become store keys and log text.
inline constexpr std::size_t max_caller_id_bytes = 128;
inline constexpr std::size_t max_pin_bytes = 64;

// The canonical form of a caller ID. Surrounding whitespace goes (JavaScript's trim set). What is
// left, if it is a phone number - ASCII or fullwidth digits, an optional leading '+', and spaces,
// '-', '.', '(' and ')' (ASCII, fullwidth or typographic) between them - becomes '+' and its ASCII
// digits: E.164, as Twilio's From has it. Anything else (client:alice, sip:..., RESTRICTED) is
// kept as it is. A national number without its country code is kept as digits: no country is guessed.
std::string canonical_caller_id(std::string_view raw);

}  // namespace callproxy::proxy
