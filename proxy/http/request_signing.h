// The X-Twilio-Signature settings and the URL Twilio signed, shared by the /media handshake and
// the signed HTTP routes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "twilio/signature.h"

namespace callproxy::proxy {

struct SignatureOptions {
  bool validate = false;   // VALIDATE_EXTERNAL_CALLS
  std::string auth_token;  // TWILIO_AUTH_TOKEN; never logged
  std::string public_url;  // base URL Twilio uses, when behind a proxy
};

// A URL for a log line: without its query, which may carry what a caller meant to keep secret
// (as the access lines leave it out).
std::string_view without_query(std::string_view url);

class RequestSigning {
 public:
  // Throws std::invalid_argument when validation is on without an auth token.
  explicit RequestSigning(const SignatureOptions& options);

  bool enabled() const { return validator_.has_value(); }
  const twilio::SignatureValidator& validator() const { return *validator_; }
  bool has_public_url() const { return !public_base_.empty(); }

  // What Twilio signed: --public-url + target, or <scheme>://<Host header><target> (as the Node
  // service does; a Host header is the client's word, hence --public-url behind a proxy). A
  // --public-url of https:// or wss:// signs streams as wss:// and webhooks as https:// (http://
  // or ws://: ws:// and http://): Twilio signs both kinds on one name.
  std::string signed_url(std::string_view scheme, std::string_view host, std::string_view target) const;

 private:
  std::string public_base_;  // without trailing '/'
  std::optional<twilio::SignatureValidator> validator_;
};

}  // namespace callproxy::proxy
