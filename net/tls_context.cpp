#include "net/tls_context.h"

#include <boost/asio/ssl/context.hpp>
#include <openssl/crypto.h>

#include <stdexcept>

#include "core/regular_file.h"

namespace callproxy::net {
namespace ssl = boost::asio::ssl;

namespace {

constexpr auto tls12_or_later = ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                                ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1;

// The PEM text of `file`; throws std::invalid_argument with `what` (the setting, or "CA file")
// and the file named.
std::string read_pem(const std::string& what, const std::string& file) {
  auto text = read_regular_file(file, max_pem_file_bytes);
  if (!text) throw std::invalid_argument(what + " '" + file + "': " + text.error());
  return std::move(text.value());
}

// A private key's text is wiped once OpenSSL has taken it.
struct WipedOnExit {
  std::string& text;
  ~WipedOnExit() { OPENSSL_cleanse(text.data(), text.size()); }
};

}  // namespace

std::shared_ptr<ssl::context> make_client_tls_context(const std::string& extra_ca_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(tls12_or_later);
  context->set_default_verify_paths();
  context->set_verify_mode(ssl::verify_peer);
  if (!extra_ca_file.empty()) {
    const auto pem = read_pem("CA file", extra_ca_file);
    boost::system::error_code ec;
    context->add_certificate_authority(boost::asio::buffer(pem), ec);
    if (ec) throw std::invalid_argument("CA file '" + extra_ca_file + "': " + ec.message());
  }
  return context;
}

std::shared_ptr<ssl::context> make_server_tls_context(const std::string& cert_chain_file, const std::string& key_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(tls12_or_later);
  boost::system::error_code ec;
  context->use_certificate_chain(boost::asio::buffer(read_pem("--tls-cert", cert_chain_file)), ec);
  if (ec) throw std::invalid_argument("--tls-cert '" + cert_chain_file + "': " + ec.message());
  auto key = read_pem("--tls-key", key_file);
  const WipedOnExit wiped{key};
  context->use_private_key(boost::asio::buffer(key), ssl::context::pem, ec);
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
