#include "net/listener.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "net/asio_names.h"

namespace callproxy::net {

Listener::Listener(asio::io_context& loop, std::string name) : acceptor_(loop), retry_(loop), name_(std::move(name)) {}

std::uint16_t Listener::listen(const std::string& bind, std::uint16_t port) {
  error_code ec;
  const auto address = asio::ip::make_address(bind, ec);
  if (ec) throw std::invalid_argument("--bind: '" + bind + "' is not an IP address");
  const tcp::endpoint endpoint{address, port};
  const std::string where = bind + ":" + std::to_string(port);
  if (acceptor_.open(endpoint.protocol(), ec); ec)
    throw std::runtime_error("cannot open socket for " + where + ": " + ec.message());
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (acceptor_.bind(endpoint, ec); ec) throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) {
    throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  }
  return acceptor_.local_endpoint().port();
}

void Listener::start(PickLoop pick, OnAccept on_accept) {
  pick_ = std::move(pick);
  on_accept_ = std::move(on_accept);
  do_accept();
}

void Listener::close() {
  error_code ignored;
  acceptor_.close(ignored);
  retry_.cancel();
}

void Listener::do_accept() {
  acceptor_.async_accept(pick_(), [this](error_code ec, LoopSocket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors (EMFILE, ENFILE) or the like: the connection waits in the backlog;
      // try again shortly rather than spin on an error that has not gone away.
      const auto now = std::chrono::steady_clock::now();
      if (++failures_ == 1 || now - reported_ >= std::chrono::seconds(10)) {
        spdlog::warn("{}: accept failed: {} ({} time{} in a row; retrying every 100 ms)", name_, ec.message(),
                     failures_, failures_ == 1 ? "" : "s");
        reported_ = now;
      }
      retry_.expires_after(std::chrono::milliseconds(100));
      return retry_.async_wait([this](error_code ec) {
        if (!ec && acceptor_.is_open()) do_accept();
      });
    }
    if (failures_ > 0) {
      spdlog::info("{}: accepting again after {} failed accept{}", name_, failures_, failures_ == 1 ? "" : "s");
      failures_ = 0;
    }
    // Media is a small message every 20 ms each way: Nagle's algorithm would hold one back behind
    // an unacknowledged one (up to a delayed ACK, 40 ms) on any real network.
    error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    on_accept_(std::move(socket));
    do_accept();
  });
}

}  // namespace callproxy::net
