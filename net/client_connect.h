// A client's way to its peer, one way for every client of the program (backend links,
// client-test's calls, the identity API, Redis): look the name up (off the loop, never behind
// another lookup: name_lookup.h), connect to the first address the caller allows, and for TLS
// streams the handshake with SNI and host-name verification; the whole sequence bounded by one
// timeout, the lookup included. For the networking sources only (Beast types).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "net/endpoint.h"
#include "net/name_lookup.h"

namespace callproxy::net {

struct ConnectFailure {
  enum class Step { resolve, not_allowed, connect, tls };
  Step step;
  std::string message;  // "cannot resolve bot.internal: timed out", "cannot connect to bot:9000: Connection refused"
};

using ConnectDone = std::function<void(std::optional<ConnectFailure>)>;
// Whether a resolved address may be connected to (the backend allowlist); empty: any.
using AddressFilter = std::function<bool(const boost::asio::ip::address&)>;

namespace detail {

struct ConnectState {
  ConnectState(const boost::asio::any_io_executor& executor, ConnectDone on_done)
      : deadline(executor), done(std::move(on_done)) {}
  ConnectState(const ConnectState&) = delete;
  ConnectState& operator=(const ConnectState&) = delete;
  // Gone with its loop's handlers at the latest: the lookup's thread then touches the loop no more.
  ~ConnectState() {
    if (lookup) lookup->cancel();
  }
  void finish(std::optional<ConnectFailure> failure) {
    deadline.cancel();
    if (auto callback = std::exchange(done, nullptr)) callback(std::move(failure));
  }
  std::shared_ptr<NameLookup> lookup;
  boost::asio::steady_timer deadline;  // a lookup has no timeout of its own; this one covers it
  ConnectDone done;
};

}  // namespace detail

// `stream` is a Beast TCP stream or an ssl_stream over one; it must outlive the
// operation (the caller's `done` usually holds its owner). `done` runs once, on the stream's
// executor. On success the stream's own timer is left running: the caller sets what follows.
template <class Stream>
void async_connect_client(Stream& stream, const Endpoint& endpoint, std::chrono::milliseconds timeout,
                          AddressFilter allow, ConnectDone done) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  using boost::system::error_code;
  using tcp = asio::ip::tcp;
  auto& lowest = beast::get_lowest_layer(stream);
  constexpr bool tls = !std::is_same_v<std::remove_reference_t<decltype(lowest)>, Stream>;  // a layer above TCP
  auto state = std::make_shared<detail::ConnectState>(lowest.get_executor(), std::move(done));
  const auto until = std::chrono::steady_clock::now() + timeout;
  state->deadline.expires_at(until);
  // The deadline's wait keeps the state alive while the lookup runs; the lookup's answer holds it
  // weakly, so that a loop destroyed mid-lookup takes the state, and so the lookup, with it.
  state->deadline.async_wait([state, host = endpoint.host](error_code ec) {
    if (ec) return;
    if (state->lookup) state->lookup->cancel();
    state->finish(ConnectFailure{ConnectFailure::Step::resolve, "cannot resolve " + host + ": timed out"});
  });
  state->lookup = lookup_name(
      lowest.get_executor(), endpoint.host, endpoint.port,
      [weak = std::weak_ptr<detail::ConnectState>(state), &stream, &lowest, until, endpoint, allow = std::move(allow)](
          error_code ec, std::vector<tcp::endpoint> results) {
        const auto state = weak.lock();
        if (!state || !state->done) return;  // the deadline answered already
        state->deadline.cancel();
        if (ec)
          return state->finish(
              ConnectFailure{ConnectFailure::Step::resolve, "cannot resolve " + endpoint.host + ": " + ec.message()});
        std::vector<tcp::endpoint> addresses;
        for (const auto& entry : results) {
          if (!allow || allow(entry.address())) addresses.push_back(entry);
        }
        if (addresses.empty()) {
          return state->finish(
              ConnectFailure{ConnectFailure::Step::not_allowed, "no allowed address for " + endpoint.host});
        }
        lowest.expires_at(until);
        lowest.async_connect(addresses, [state, &stream, endpoint](error_code ec, const tcp::endpoint&) {
          if (ec) {
            return state->finish(ConnectFailure{ConnectFailure::Step::connect,
                                                "cannot connect to " + endpoint.authority() + ": " + ec.message()});
          }
          // A frame every 20 ms: never held back by Nagle's algorithm for an earlier one's ACK.
          error_code ignored;
          beast::get_lowest_layer(stream).socket().set_option(tcp::no_delay(true), ignored);
          if constexpr (tls) {
            // SNI and the certificate's name checked against the host we meant to reach.
            if (!SSL_set_tlsext_host_name(stream.native_handle(), endpoint.host.c_str())) {
              return state->finish(ConnectFailure{ConnectFailure::Step::tls, "cannot set TLS server name"});
            }
            stream.set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
            stream.async_handshake(asio::ssl::stream_base::client, [state](error_code ec) {
              if (ec)
                return state->finish(
                    ConnectFailure{ConnectFailure::Step::tls, "TLS handshake failed: " + ec.message()});
              state->finish(std::nullopt);
            });
          } else {
            (void)stream;
            state->finish(std::nullopt);
          }
        });
      });
}

}  // namespace callproxy::net
