// TLS contexts, made one way for the whole program: clients verify their peer (the system's CA
// store, plus an optional extra CA file) and never speak below TLS 1.2; servers load a
// certificate chain and key. The files are read as every file a setting names is
// (core/regular_file.h): a regular file, at most max_pem_file_bytes, never a FIFO that would hang
// the start.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace callproxy::net {

// The most of a certificate, key or CA file that is read. Debian's whole CA bundle is about
// 200 KiB and a certificate chain a few KiB: 4 MiB leaves room for any real one.
inline constexpr std::size_t max_pem_file_bytes = std::size_t{4} << 20;

// Throws std::invalid_argument naming `extra_ca_file` when it cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const std::string& extra_ca_file = {});

// A client context made when first needed: loading the system CA store costs start-up time and
// memory that a deployment without wss:// peers never needs. An extra CA file, when given, is
// loaded at once (a bad file is a configuration error to report at start, not on a call).
// get() may be called from any thread.
class LazyClientTlsContext {
 public:
  explicit LazyClientTlsContext(std::string extra_ca_file = {});
  boost::asio::ssl::context& get();
  bool loaded() const;

 private:
  std::string extra_ca_file_;
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> context_;
};

// Throws std::invalid_argument naming the file that cannot be used.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const std::string& cert_chain_file,
                                                                   const std::string& key_file);

}  // namespace callproxy::net
