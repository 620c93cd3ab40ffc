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
  if (!public_base_.empty()) return public_base_ + std::string(target);
  return std::string(scheme) + "://" + std::string(host) + std::string(target);
}

}  // namespace callproxy::proxy
