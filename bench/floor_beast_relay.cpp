// The floor on our own stack: Beast WebSocket streams on one io_context thread, the stream types
// and timeouts serve uses. Each accepted WebSocket gets one WebSocket to a fixed upstream (the
// bench's sink); every message is forwarded unchanged, text or binary, without being parsed.
// Its cost over floor-tcp-relay is the stack's (Asio, Beast framing and masking); what serve
// spends beyond it is serve's own.
//
//   floor-beast-relay --upstream 127.0.0.1:PORT [--port 0] [--path /media]
//   prints "floor-beast-relay listening on 127.0.0.1:PORT" on stderr once it accepts
//
// The only bench source that includes Beast; Asio and Beast are compiled once in net/asio_impl.cpp.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <sys/resource.h>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;
using Ws = websocket::stream<beast::tcp_stream>;

struct Config {
  tcp::endpoint upstream;
  std::string path = "/media";
};

class Relay : public std::enable_shared_from_this<Relay> {
 public:
  Relay(tcp::socket socket, const Config& config)
      : down_(std::move(socket)), up_(down_.get_executor()), config_(config) {}

  void start() {
    beast::get_lowest_layer(down_).socket().set_option(tcp::no_delay(true));
    down_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    down_.async_accept([self = shared_from_this()](error_code ec) {
      if (ec) return;
      self->connect_upstream();
    });
  }

 private:
  void connect_upstream() {
    beast::get_lowest_layer(up_).async_connect(config_.upstream, [self = shared_from_this()](error_code ec) {
      if (ec) return self->close();
      beast::get_lowest_layer(self->up_).socket().set_option(tcp::no_delay(true));
      self->up_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
      const std::string host = "127.0.0.1:" + std::to_string(self->config_.upstream.port());
      self->up_.async_handshake(host, self->config_.path, [self](error_code ec2) {
        if (ec2) return self->close();
        self->pump(self->down_, self->up_, self->down_buffer_);
        self->pump(self->up_, self->down_, self->up_buffer_);
      });
    });
  }

  // One direction: read a message from `from`, write it to `to` as it came, read the next.
  void pump(Ws& from, Ws& to, beast::flat_buffer& buffer) {
    from.async_read(buffer, [self = shared_from_this(), &from, &to, &buffer](error_code ec, std::size_t) {
      if (ec) return self->close();
      to.text(from.got_text());
      to.async_write(buffer.data(), [self, &from, &to, &buffer](error_code ec2, std::size_t) {
        if (ec2) return self->close();
        buffer.consume(buffer.size());
        self->pump(from, to, buffer);
      });
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    beast::get_lowest_layer(down_).socket().close(ignored);
    beast::get_lowest_layer(up_).socket().close(ignored);
  }

  Ws down_;
  Ws up_;
  const Config& config_;
  beast::flat_buffer down_buffer_;
  beast::flat_buffer up_buffer_;
  bool closed_ = false;
};

void accept_loop(tcp::acceptor& acceptor, const Config& config) {
  acceptor.async_accept([&acceptor, &config](error_code ec, tcp::socket socket) {
    if (!ec) std::make_shared<Relay>(std::move(socket), config)->start();
    if (acceptor.is_open()) accept_loop(acceptor, config);
  });
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: floor-beast-relay --upstream 127.0.0.1:PORT [--port 0] [--path /media]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  unsigned short port = 0, upstream_port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--port") {
      port = static_cast<unsigned short>(std::atoi(v.c_str()));
    } else if (a == "--path") {
      config.path = v;
    } else if (a == "--upstream") {
      if (v.rfind("127.0.0.1:", 0) != 0) usage();  // loopback only
      upstream_port = static_cast<unsigned short>(std::atoi(v.c_str() + 10));
    } else {
      usage();
    }
  }
  if (upstream_port == 0) usage();
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);

  const auto loopback = asio::ip::address_v4::loopback();
  config.upstream = tcp::endpoint(loopback, upstream_port);
  asio::io_context io(1);
  tcp::acceptor acceptor(io);
  const tcp::endpoint local(loopback, port);
  acceptor.open(local.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(local);
  acceptor.listen(asio::socket_base::max_listen_connections);
  std::fprintf(stderr, "floor-beast-relay listening on 127.0.0.1:%u (upstream 127.0.0.1:%u)\n",
               acceptor.local_endpoint().port(), upstream_port);
  accept_loop(acceptor, config);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](error_code, int) { io.stop(); });
  io.run();
  return 0;
}
