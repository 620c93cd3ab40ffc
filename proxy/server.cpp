// Listener and HTTP sessions on Beast, in the style of Beast's advanced server example:
// one class per connection, do_x/on_x pairs, limits and timeouts stated where they apply.
#include <utility>  // before Asio: see BUILD-NOTES on <utility> and awaitable.hpp

#include "proxy/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "net/event_loops.h"

namespace callproxy::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, const Router& router, const ServeOptions& options)
      : stream_(std::move(socket)), router_(router), options_(options) {}

  void run() {
    // Start on the socket's own loop: everything of this connection happens there.
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&HttpSession::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    stream_.expires_after(options_.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

  void on_read(error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      return do_close();
    }
    if (ec == http::error::body_limit) {
      return send_error(413, "request body exceeds " + std::to_string(options_.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return send_error(431, "request headers exceed " + std::to_string(options_.max_header_bytes) + " bytes");
    }
    if (ec) {
      spdlog::debug("http: bad request from {}: {}", remote(), ec.message());
      return send_error(400, "malformed HTTP request: " + ec.message());
    }

    auto& message = parser_->get();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    const bool keep_alive = message.keep_alive();
    const unsigned version = message.version();
    const bool head = message.method() == http::verb::head;

    router_.dispatch(request, [self = shared_from_this(), keep_alive, version, head](HttpResponse r) {
      // Handlers may answer from another loop (a store, a remote API): come back to ours.
      asio::dispatch(self->stream_.get_executor(), [self, r = std::move(r), keep_alive, version, head]() mutable {
        self->do_write(std::move(r), keep_alive, version, head);
      });
    });
  }

  void send_error(int status, std::string message) {
    do_write(HttpResponse::error(status, message), false, 11, false);
  }

  void do_write(HttpResponse response, bool keep_alive, unsigned version, bool head) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), version);
    res->set(http::field::server, "callproxy");
    res->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) res->set(name, value);
    res->keep_alive(keep_alive);
    res->body() = std::move(response.body);
    res->prepare_payload();
    if (head) res->body().clear();  // Content-Length stays that of the GET answer
    stream_.expires_after(options_.idle_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](error_code ec, std::size_t) {
      self->on_write(ec, res->keep_alive());
    });
  }

  void on_write(error_code ec, bool keep_alive) {
    if (ec) return do_close();
    if (!keep_alive) return do_close();
    do_read();
  }

  void do_close() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  std::string remote() const {
    error_code ec;
    const auto endpoint = stream_.socket().remote_endpoint(ec);
    return ec ? std::string("?") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const Router& router_;
  const ServeOptions& options_;
};

}  // namespace

struct Server::Impl {
  explicit Impl(ServeOptions o)
      : options(std::move(o)),
        loops(options.threads),
        acceptor(loops.loop(0)),
        signals(loops.loop(0), SIGINT, SIGTERM),
        drain_timer(loops.loop(0)) {}

  void do_accept() {
    // Each new connection goes to the next loop and stays there.
    acceptor.async_accept(loops.next(), [this](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        spdlog::warn("accept failed: {}", ec.message());
      } else {
        std::make_shared<HttpSession>(std::move(socket), router, options)->run();
      }
      if (acceptor.is_open()) do_accept();
    });
  }

  void do_wait_signal() {
    signals.async_wait([this](error_code ec, int signal) {
      if (ec) return;
      if (state.draining.exchange(true)) {
        spdlog::warn("second signal ({}): stopping now", signal);
        return finish();
      }
      spdlog::info("signal {}: draining (no new calls; up to {} ms for live calls)", signal,
                   options.drain_timeout.count());
      begin_drain();
      do_wait_signal();
    });
  }

  void begin_drain() {
    state.draining = true;
    // No live calls exist yet in this version of serve, so the drain completes at once;
    // the timer bounds it once calls are tracked.
    drain_timer.expires_after(options.drain_timeout);
    drain_timer.async_wait([this](error_code ec) {
      if (!ec) spdlog::warn("drain timeout reached");
      finish();
    });
    finish();
  }

  void finish() {
    error_code ignored;
    acceptor.close(ignored);
    signals.cancel(ignored);
    drain_timer.cancel();
    loops.stop();
  }

  ServeOptions options;
  ServeState state;
  Router router;
  net::EventLoops loops;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  asio::steady_timer drain_timer;
};

Server::Server(ServeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  add_health_routes(impl_->router, impl_->state);
}

Server::~Server() = default;

Router& Server::router() { return impl_->router; }
ServeState& Server::state() { return impl_->state; }

std::uint16_t Server::listen() {
  error_code ec;
  const auto address = asio::ip::make_address(impl_->options.bind, ec);
  if (ec) throw std::runtime_error("--bind: '" + impl_->options.bind + "' is not an IP address");
  const tcp::endpoint endpoint{address, impl_->options.port};
  auto& acceptor = impl_->acceptor;
  const std::string where = impl_->options.bind + ":" + std::to_string(impl_->options.port);
  if (acceptor.open(endpoint.protocol(), ec); ec) throw std::runtime_error("cannot open socket for " + where + ": " + ec.message());
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec); ec) throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  }
  const auto port = acceptor.local_endpoint().port();
  spdlog::info("listening on {}:{} ({} event loop{})", impl_->options.bind, port, impl_->loops.size(),
               impl_->loops.size() == 1 ? "" : "s");
  return port;
}

void Server::run() {
  impl_->do_accept();
  impl_->do_wait_signal();
  impl_->loops.run();
  spdlog::info("stopped");
}

void Server::stop() {
  asio::post(impl_->loops.loop(0), [impl = impl_.get()] {
    if (!impl->state.draining.exchange(true)) impl->begin_drain();
  });
}

}  // namespace callproxy::proxy
