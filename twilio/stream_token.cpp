#include "twilio/stream_token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <charconv>
#include <optional>

#include "twilio/signature.h"

namespace callproxy::twilio {
namespace {

constexpr std::string_view prefix = "v1.";

// Each field with its length in front, so that no two (sid, hosts, expiry) triples share a text.
void add_field(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

std::string mac_text(std::string_view secret, std::string_view call_sid, std::string_view backend_hosts,
                     std::int64_t expires_unix) {
  std::string data = "callproxy stream token v1|";
  add_field(data, call_sid);
  add_field(data, backend_hosts);
  add_field(data, std::to_string(expires_unix));
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &size);
  // base64url without padding: safe in a URL query and an XML attribute alike.
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (unsigned int i = 0; i < size; ++i) {
    bits = (bits << 8) | mac[i];
    count += 8;
    while (count >= 6) {
      count -= 6;
      out += alphabet[(bits >> count) & 0x3F];
    }
  }
  if (count > 0) out += alphabet[(bits << (6 - count)) & 0x3F];
  return out;
}

// "<expiry>" of "v1.<expiry>.<MAC>", and the MAC; nullopt for what is not shaped so.
struct TokenParts {
  std::int64_t expires;
  std::string_view mac;
};
std::optional<TokenParts> split(std::string_view token) {
  if (token.size() > max_stream_token_chars || token.substr(0, prefix.size()) != prefix) return std::nullopt;
  const auto rest = token.substr(prefix.size());
  const auto dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  std::int64_t expires = 0;
  const auto digits = rest.substr(0, dot);
  // Only the form mint_stream_token writes: "0012" would verify as 12 under another text, and
  // so give a second single-use claim (stream_token_id is of the text).
  if (digits.size() > 1 && digits.front() == '0') return std::nullopt;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), expires);
  if (error != std::errc() || end != digits.data() + digits.size() || expires < 0) return std::nullopt;
  return TokenParts{expires, rest.substr(dot + 1)};
}

}  // namespace

std::string mint_stream_token(std::string_view secret, std::string_view call_sid, std::string_view backend_hosts,
                              std::int64_t expires_unix) {
  return std::string(prefix) + std::to_string(expires_unix) + "." +
         mac_text(secret, call_sid, backend_hosts, expires_unix);
}

StreamTokenVerdict check_stream_token(std::string_view secret, std::string_view token, std::string_view call_sid,
                                      std::string_view backend_hosts, std::int64_t now_unix) {
  if (token.empty()) return StreamTokenVerdict::missing;
  const auto parts = split(token);
  if (!parts) return StreamTokenVerdict::malformed;
  const auto expires = parts->expires;
  // Recomputed over the expiry as written: a changed expiry is a different MAC.
  if (!equal_secrets(parts->mac, mac_text(secret, call_sid, backend_hosts, expires))) {
    return StreamTokenVerdict::mismatch;
  }
  if (now_unix >= expires) return StreamTokenVerdict::expired;
  return StreamTokenVerdict::valid;
}

std::string_view describe(StreamTokenVerdict verdict) {
  switch (verdict) {
    case StreamTokenVerdict::valid: return "valid stream token";
    case StreamTokenVerdict::missing: return "missing stream token";
    case StreamTokenVerdict::malformed:
    case StreamTokenVerdict::mismatch: return "invalid stream token";
    case StreamTokenVerdict::expired: return "expired stream token";
  }
  return "invalid stream token";
}

std::string stream_token_id(std::string_view token) { return sha256_hex(token); }

std::int64_t stream_token_expiry(std::string_view token) {
  const auto parts = split(token);
  return parts ? parts->expires : -1;
}

}  // namespace callproxy::twilio
