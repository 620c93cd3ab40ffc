#include "proxy/http/request_signing.h"

#include <stdexcept>

namespace callproxy::proxy {

RequestSigning::RequestSigning(const SignatureOptions& options) : public_base_(options.public_url) {
  while (!public_base_.empty() && public_base_.back() == '/') public_base_.pop_back();
  if (!options.validate) return;
  if (options.auth_token.empty()) {
    throw std::invalid_argument("--validate-signatures needs the auth token (--auth-token or TWILIO_AUTH_TOKEN)");
  }
  validator_.emplace(options.auth_token);
}

std::string_view without_query(std::string_view url) { return url.substr(0, url.find('?')); }

std::string RequestSigning::signed_url(std::string_view scheme, std::string_view host, std::string_view target) const {
  if (!public_base_.empty()) {
    // One --public-url serves both kinds of signed request: Twilio signs a stream's wss:// URL
    // and a webhook's https:// URL on the same name, so the base's scheme says only whether TLS
    // is in front, and the request's kind picks the scheme.
    const auto colon = public_base_.find("://");
    const std::string_view base_scheme = std::string_view(public_base_).substr(0, colon);
    const bool secure = base_scheme == "https" || base_scheme == "wss";
    if (colon != std::string::npos && twilio::is_web_scheme(base_scheme)) {
      const bool websocket = scheme == "wss" || scheme == "ws";
      const char* use = websocket ? (secure ? "wss" : "ws") : (secure ? "https" : "http");
      return use + public_base_.substr(colon) + std::string(target);
    }
    return public_base_ + std::string(target);
  }
  return std::string(scheme) + "://" + std::string(host) + std::string(target);
}

}  // namespace callproxy::proxy
