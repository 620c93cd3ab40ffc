// A TCP listener that keeps accepting: a failed accept (out of descriptors, a connection reset
// before it was taken) is retried after a short pause instead of spinning or going deaf, and
// logged once per 10 s while it lasts. For the
// networking sources only (it hands out Asio sockets).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "net/loop_stream.h"

namespace callproxy::net {

class Listener {
 public:
  using PickLoop = std::function<boost::asio::io_context&()>;
  using OnAccept = std::function<void(LoopSocket)>;  // bound to the loop it was placed on

  // `name` prefixes log lines ("serve", "local-speaker").
  Listener(boost::asio::io_context& loop, std::string name);

  // Binds and listens. Throws std::invalid_argument when `bind` is not an IP address and
  // std::runtime_error naming the address when it cannot listen. Returns the port bound.
  std::uint16_t listen(const std::string& bind, std::uint16_t port);

  // Accepts until close(); each connection is placed on the loop `pick` returns.
  void start(PickLoop pick, OnAccept on_accept);
  void close();

 private:
  void do_accept();

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  // Failed accepts since the last one that worked, and when the last line about them was written.
  std::uint64_t failures_ = 0;
  std::chrono::steady_clock::time_point reported_{};
  std::string name_;
  PickLoop pick_;
  OnAccept on_accept_;
};

}  // namespace callproxy::net
