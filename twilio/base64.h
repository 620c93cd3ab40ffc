// Standard base64 (RFC 4648, padded), as Twilio uses for media payloads.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace callproxy::twilio {

std::string base64_encode(std::span<const std::uint8_t> bytes);
inline std::string base64_encode(std::string_view text) {
  return base64_encode(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

// Appends the base64 of `bytes` to `out`; its capacity is reused (the media path, per frame).
void base64_append(std::string& out, std::span<const std::uint8_t> bytes);

// Decodes padded base64 into `out`, replacing what it held (its capacity reused); false, with
// `out` unspecified, if the text is not valid base64.
bool base64_decode_into(std::string_view text, std::vector<std::uint8_t>& out);

// Decodes padded base64; nullopt if the text is not valid base64 (bad length, bad
// characters, misplaced padding).
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

}  // namespace callproxy::twilio
