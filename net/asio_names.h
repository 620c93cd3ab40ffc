// The short names every networking source uses for Asio and Beast, said once. Only for sources
// that include Asio/Beast themselves (it declares names, it pulls in nothing heavy).
#pragma once

#include <boost/system/error_code.hpp>

namespace boost::asio::ip {}
namespace boost::beast::http {}
namespace boost::beast::websocket {}
namespace boost::asio::ip {
class tcp;
}

namespace callproxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

}  // namespace callproxy
