// Per-call stream tokens: what lets serve tell a stream the call flow asked for from a replayed
// or hand-made one. A token is an HMAC-SHA256, under a secret only serve knows, over the call's
// SID, the exact backendHosts value the stream will carry and an expiry; the call flow mints it
// (a <Parameter name="streamToken"> of the <Stream>), the /media endpoint checks it at the
// stream's start, before any backend is connected. Never logged.
//
// Text form: "v1.<expiry, Unix seconds>.<base64url of the MAC, no padding>".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace callproxy::twilio {

// The shortest secret accepted (as for the admin API key): a short one could be guessed.
inline constexpr std::size_t min_stream_token_secret_chars = 16;
// Longest token text looked at; anything longer is malformed without being parsed.
inline constexpr std::size_t max_stream_token_chars = 128;

std::string mint_stream_token(std::string_view secret, std::string_view call_sid, std::string_view backend_hosts,
                              std::int64_t expires_unix);

enum class StreamTokenVerdict { valid, missing, malformed, mismatch, expired };

// The MAC is compared in constant time; an expiry is only believed once the MAC over it holds.
StreamTokenVerdict check_stream_token(std::string_view secret, std::string_view token, std::string_view call_sid,
                                      std::string_view backend_hosts, std::int64_t now_unix);

// "missing stream token", "invalid stream token" (malformed, or not made for this call and these
// backends), "expired stream token": what a refused stream is told in its close reason.
std::string_view describe(StreamTokenVerdict verdict);

// A token is used once (the stream that first presents it claims it in the state store): what the
// store remembers it by is the SHA-256 of its text, in hex, so the store never holds a token that
// could be presented.
std::string stream_token_id(std::string_view token);

// The expiry written in a token (Unix seconds), -1 when it is malformed. Believed only of a token
// check_stream_token found valid: the MAC covers it.
std::int64_t stream_token_expiry(std::string_view token);

}  // namespace callproxy::twilio
