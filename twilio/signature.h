// Twilio request signatures (X-Twilio-Signature): computing them as Twilio does, and
// validating them with the same tolerance for URL variants as Twilio's own helper library.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callproxy::twilio {

// A request's parameters as they arrived: form fields, or a handshake's parameters.
// A key may repeat (Twilio sends MediaUrl0.. but form bodies can repeat keys); order is free.
using RequestParams = std::vector<std::pair<std::string, std::string>>;

// base64(HMAC-SHA1(auth_token, url + each key and value)), keys sorted by UTF-16 code units
// (JavaScript's default sort, which Twilio's library uses). A repeated key's values are
// de-duplicated and sorted the same way, each contributing key+value.
std::string compute_signature(std::string_view auth_token, std::string_view url, const RequestParams& params);

// Lowercase hex SHA-256, the form Twilio puts in the bodySHA256 query parameter.
std::string sha256_hex(std::string_view data);

// `url` with bodySHA256=<sha256_hex(body)> appended ('?' or '&' as the URL needs).
std::string url_with_body_hash(std::string_view url, std::string_view body);

// The first value of query parameter `key` in `url`, form-decoded ('+' is a space, %XX a
// byte); nullopt if absent. Mirrors URLSearchParams.get().
std::optional<std::string> query_param(std::string_view url, std::string_view key);

// True when the URL carries a bodySHA256 query parameter (the JSON-body form of signing).
bool has_body_hash(std::string_view url);

// The URL forms a signature is checked against for a request that arrived at `url`: as given
// (first, byte for byte), WHATWG-normalised, and with the query re-encoded as Node's querystring does; each with the
// scheme's default port added (443 for https, 80 otherwise, as Twilio's library does) and with
// any port removed. Empty if `url` is not an absolute URL.
std::vector<std::string> signature_url_variants(std::string_view url);

// Whether `url` is an absolute URL a signature can be checked against (scheme://host[:port]...):
// signature_url_variants gives it variants exactly when this is true, at a fraction of the cost.
bool is_signable_url(std::string_view url);

// Whether `scheme` (lowercase, as URLs are normalised) is one of the web's: http, https, ws, wss,
// the schemes Twilio signs and WHATWG calls special.
bool is_web_scheme(std::string_view scheme);

// Equality that takes the same time whatever the contents (only the lengths leak): for values of
// a fixed, public length (signatures, hex digests).
bool constant_time_equal(std::string_view a, std::string_view b);

// Equality of a presented secret with the expected one (API keys) that leaks neither contents
// nor lengths: both are hashed (HMAC-SHA256 under a per-process random key) and the digests
// compared in constant time.
bool equal_secrets(std::string_view presented, std::string_view expected);

enum class SignatureVerdict {
  valid,
  mismatch,            // no URL variant gives the presented signature
  invalid_url,         // the URL could not be parsed
  body_hash_missing,   // a body was to be checked but the URL has no bodySHA256
  body_hash_mismatch,  // the signature is right but the body is not the one that was signed
};
std::string_view describe(SignatureVerdict verdict);

// Validates requests for one auth token. Holds the token; never prints it.
class SignatureValidator {
 public:
  explicit SignatureValidator(std::string auth_token) : auth_token_(std::move(auth_token)) {}

  // Form requests and WebSocket handshakes: the URL plus its POST parameters.
  SignatureVerdict validate(std::string_view signature, std::string_view url, const RequestParams& params) const;

  // JSON-body requests: the URL alone is signed and its bodySHA256 must be the body's hash.
  SignatureVerdict validate_with_body(std::string_view signature, std::string_view url, std::string_view body) const;

 private:
  std::string auth_token_;
};

}  // namespace callproxy::twilio
