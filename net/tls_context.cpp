#include "net/tls_context.h"

#include <boost/asio/ssl/context.hpp>

#include <stdexcept>

namespace callproxy::net {
namespace ssl = boost::asio::ssl;

namespace {

constexpr auto tls12_or_later = ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                                ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1;

}  // namespace

std::shared_ptr<ssl::context> make_client_tls_context(const std::string& extra_ca_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(tls12_or_later);
  context->set_default_verify_paths();
  context->set_verify_mode(ssl::verify_peer);
  if (!extra_ca_file.empty()) {
    boost::system::error_code ec;
    context->load_verify_file(extra_ca_file, ec);
    if (ec) throw std::invalid_argument("CA file '" + extra_ca_file + "': " + ec.message());
  }
  return context;
}

std::shared_ptr<ssl::context> make_server_tls_context(const std::string& cert_chain_file, const std::string& key_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(tls12_or_later);
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert_chain_file, ec);
  if (ec) throw std::invalid_argument("--tls-cert '" + cert_chain_file + "': " + ec.message());
  context->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) throw std::invalid_argument("--tls-key '" + key_file + "': " + ec.message());
  return context;
}

LazyClientTlsContext::LazyClientTlsContext(std::string extra_ca_file) : extra_ca_file_(std::move(extra_ca_file)) {
  if (!extra_ca_file_.empty()) context_ = make_client_tls_context(extra_ca_file_);
}

boost::asio::ssl::context& LazyClientTlsContext::get() {
  const std::lock_guard lock(mutex_);
  if (!context_) context_ = make_client_tls_context(extra_ca_file_);
  return *context_;
}

bool LazyClientTlsContext::loaded() const {
  const std::lock_guard lock(mutex_);
  return context_ != nullptr;
}

}  // namespace callproxy::net
