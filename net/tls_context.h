// TLS contexts, made one way for the whole program: clients verify their peer (the system's CA
// store, plus an optional extra CA file) and never speak below TLS 1.2; servers load a
// certificate chain and key.
#pragma once

#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace callproxy::net {

// Throws std::invalid_argument naming `extra_ca_file` when it cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const std::string& extra_ca_file = {});

// Throws std::invalid_argument naming the file that cannot be used.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const std::string& cert_chain_file,
                                                                   const std::string& key_file);

}  // namespace callproxy::net
