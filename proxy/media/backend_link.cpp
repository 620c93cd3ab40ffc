// Backend links on Beast: resolve -> connect -> (TLS) -> WebSocket handshake -> write loop and
// read loop, with do_x/on_x pairs. Everything runs on the call's loop: no locks.

#include "proxy/media/backend_link.h"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <optional>

#include "net/asio_names.h"
#include "net/backoff.h"
#include "net/client_connect.h"
#include "net/handler_memory.h"
#include "net/loop_stream.h"
#include "net/raw_websocket.h"
#include "net/tls_context.h"
#include "net/write_queue.h"

namespace callproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;

using TlsStream = websocket::stream<beast::ssl_stream<net::LoopTcpStream>>;
// ws:// backends: our own framing (net/raw_websocket.h): a write is one send, with nothing to
// complete when the socket takes it all, as it does for a backend that keeps up.
struct RawStream {};

enum class State { connecting, open, reconnecting, finishing, closed };

// Messages a backend may have waiting; the byte and audio limits usually come first.
constexpr std::size_t max_queued_messages = 4096;

// One connection attempt's stream and read buffer. Async operations hold it by shared_ptr, so a
// dropped connection's operations can finish (aborted) after the link has moved on to a new one.
template <class Stream>
struct Connection {
  template <class... Args>
  explicit Connection(Args&&... args) : ws(std::forward<Args>(args)...) {}
  Stream ws;
  beast::flat_buffer buffer;
};

template <>
struct Connection<RawStream> {
  explicit Connection(asio::io_context& loop) : tcp(loop.get_executor()), local(loop.get_executor()) {}
  net::LoopTcpStream tcp;               // while connecting over TCP
  net::LoopStreamSocket local;          // while connecting to a unix: socket
  std::optional<net::RawWebSocket> ws;  // from the handshake on (the socket moves into it)
};

template <class Stream>
class WebSocketBackendLink final : public BackendLink,
                                   public std::enable_shared_from_this<WebSocketBackendLink<Stream>> {
 public:
  WebSocketBackendLink(asio::io_context& loop, BackendLinkConfig config, Events events)
      : loop_(loop),
        config_(std::move(config)),
        events_(std::move(events)),
        options_(*config_.options),
        metrics_(*config_.metrics),
        retry_timer_(loop),
        finish_timer_(loop) {
    enter(State::connecting);
  }

  ~WebSocketBackendLink() override { leave_gauge(); }

  const BackendTarget& target() const override { return config_.target; }
  bool closed() const override { return state_ == State::closed; }

  void start() {
    attempt_started_ = Clock::now();
    do_resolve();
  }

  void send(const OutboundFrame& frame) override {
    switch (state_) {
      case State::closed:
      case State::finishing: return;
      case State::reconnecting:
        if (frame.audio.count() > 0) metrics_.frames_dropped[DropReason::backend_down].add();
        return;
      case State::connecting:
      case State::open: break;
    }
    if (!queue_.push(frame, frame.text.size())) {
      // Bounded in bytes too, whatever the messages carry: dtmf floods and unknown events count.
      metrics_.backend_lag_disconnects.add();
      spdlog::warn("call {}: backend {} fell behind ({} bytes in {} messages queued, limit {} bytes): disconnecting",
                   config_.call_label, config_.target.name(), queue_.bytes(), queue_.size(), queue_.limits().max_bytes);
      return fail_for_good("fell behind", DropReason::backend_lag);
    }
    queued_audio_ += frame.audio;
    // Audio waiting behind the head of the queue (in flight, or the next to go): one large
    // message alone never counts as lag.
    // While connecting, the connect timeout is allowed on top (a backend cannot read before it
    // is connected), so the queue stays bounded either way.
    const auto waiting = queued_audio_ - queue_.front().audio;
    const auto allowed = state_ == State::connecting
                             ? options_.max_backend_lag + std::chrono::duration_cast<std::chrono::microseconds>(
                                                              options_.backend_connect_timeout)
                             : std::chrono::duration_cast<std::chrono::microseconds>(options_.max_backend_lag);
    if (waiting > allowed) {
      metrics_.backend_lag_disconnects.add();
      spdlog::warn("call {}: backend {} fell behind ({} ms of audio queued, limit {} ms): disconnecting",
                   config_.call_label, config_.target.name(),
                   std::chrono::duration_cast<std::chrono::milliseconds>(waiting).count(),
                   options_.max_backend_lag.count());
      return fail_for_good("fell behind", DropReason::backend_lag);
    }
    do_write();
  }

  void finish() override {
    if (state_ == State::closed || state_ == State::finishing || finish_requested_) return;
    if (state_ == State::reconnecting) return fail_for_good("call ended");
    finish_requested_ = true;
    // Bounded: a backend that does not take the rest of the call soon is cut off. One still
    // connecting (a short call) gets its connect timeout on top.
    auto limit = std::chrono::milliseconds(2000);
    if (state_ == State::connecting) limit += options_.backend_connect_timeout;
    finish_timer_.expires_after(limit);
    finish_timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (!ec && self->state_ != State::closed) self->fail_for_good("call ended (backend slow to finish)");
    });
    if (state_ == State::open) begin_finishing();
  }

 private:
  // ---- connection ---------------------------------------------------------------------
  void do_resolve() {
    const auto& t = config_.target;
    if constexpr (raw) {
      if (!t.socket_path.empty()) return do_connect_local();
    }
    if (!options_.backend_allowlist.may_allow(t.host, t.port)) {
      metrics_.backends_refused[RefusedBackend::not_allowed].add();
      return fail_for_good("not in --backend-allow");
    }
    ws_ = make_connection();
    // The whole connection, WebSocket handshake included, gets --backend-connect-timeout.
    connect_deadline_ = Clock::now() + options_.backend_connect_timeout;
    // Only addresses the allowlist accepts are tried (a name cannot smuggle in another network).
    auto allow = [&allowlist = options_.backend_allowlist, t](const asio::ip::address& address) {
      return allowlist.allows(t.host, address.to_string(), t.port);
    };
    net::async_connect_client(connect_stream(), t, options_.backend_connect_timeout, std::move(allow),
                              [self = this->shared_from_this(), c = ws_](std::optional<net::ConnectFailure> failure) {
                                if (c == self->ws_) self->on_connect(std::move(failure));
                              });
  }

  static constexpr bool raw = std::is_same_v<Stream, RawStream>;

  // A unix: backend (the call's allowlist check was made when the call chose it). A connect to a
  // Unix socket succeeds or fails at once, but for a full backlog (EAGAIN): then it is tried
  // again, every few ms, until --backend-connect-timeout (Asio would take EAGAIN for "in
  // progress" and report a connection that is not there). The WebSocket handshake follows within
  // the same timeout.
  void do_connect_local() {
    ws_ = make_connection();
    connect_deadline_ = Clock::now() + options_.backend_connect_timeout;
    // Never inline: the link's owner hears of a failure after it has the link.
    asio::post(loop_, [self = this->shared_from_this(), c = ws_] {
      if (c == self->ws_ && self->state_ == State::connecting) self->try_connect_local(std::chrono::milliseconds(2));
    });
  }

  void try_connect_local(std::chrono::milliseconds next_wait) {
    auto& socket = ws_->local;
    const asio::local::stream_protocol::endpoint where(config_.target.socket_path);
    error_code ec;
    if (!socket.is_open()) {
      socket.open(asio::generic::stream_protocol(AF_UNIX, 0), ec);
      if (!ec) socket.non_blocking(true, ec);
    }
    // The system call itself: Asio's connect would wait (poll) for a full backlog, on the loop.
    if (!ec && ::connect(socket.native_handle(), where.data(), static_cast<socklen_t>(where.size())) != 0) {
      ec = error_code(errno, boost::system::system_category());
    }
    if (!ec) return on_connect(std::nullopt);
    if ((ec == asio::error::would_block || ec == asio::error::try_again) &&
        Clock::now() + next_wait < connect_deadline_) {
      retry_timer_.expires_after(next_wait);
      retry_timer_.async_wait([self = this->shared_from_this(), c = ws_, next_wait](error_code wait_ec) {
        if (wait_ec || c != self->ws_ || self->state_ != State::connecting) return;
        self->try_connect_local(std::min(next_wait * 2, std::chrono::milliseconds(100)));
      });
      return;
    }
    const auto why = ec == asio::error::would_block || ec == asio::error::try_again
                         ? std::string("its backlog stayed full")
                         : ec.message();
    on_connect(net::ConnectFailure{net::ConnectFailure::Step::connect,
                                   "cannot connect to " + config_.target.socket_path + ": " + why});
  }

  auto& connect_stream() {
    if constexpr (raw) {
      return ws_->tcp;
    } else {
      return ws_->ws.next_layer();
    }
  }

  std::shared_ptr<Connection<Stream>> make_connection() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      return std::make_shared<Connection<Stream>>(loop_, config_.tls->get());
    } else {
      return std::make_shared<Connection<Stream>>(loop_);
    }
  }

  void on_connect(std::optional<net::ConnectFailure> failure) {
    if (state_ == State::closed) return;
    if (!failure) return do_ws_handshake();
    if (failure->step == net::ConnectFailure::Step::not_allowed) {
      metrics_.backends_refused[RefusedBackend::not_allowed].add();
      return fail_for_good("resolved address not in --backend-allow");
    }
    on_connect_failed(failure->message);
  }

  void do_ws_handshake() {
    if constexpr (raw) {
      if (config_.target.socket_path.empty()) {
        ws_->tcp.expires_never();
        ws_->ws.emplace(std::move(ws_->tcp), net::RawWebSocket::Role::client);
      } else {
        ws_->ws.emplace(std::move(ws_->local), net::RawWebSocket::Role::client);
      }
      auto& ws = *ws_->ws;
      ws.read_message_max(options_.max_message_bytes);
      ws.max_control_frames(options_.max_control_frames);
      ws.max_message_fragments(options_.max_message_fragments);
      ws.hold_until_closed(config_.held);
      // What is left of the connect timeout: the handshake is part of connecting.
      const auto left = std::max<Clock::duration>(connect_deadline_ - Clock::now(), std::chrono::milliseconds(1));
      // A Unix socket has no host name: its request says "Host: localhost".
      const auto host = config_.target.socket_path.empty() ? config_.target.authority() : std::string("localhost");
      ws.async_handshake(host, config_.target.target, std::chrono::ceil<std::chrono::milliseconds>(left),
                         [self = this->shared_from_this(), c = ws_](error_code ec) {
                           if (c == self->ws_) self->on_handshake(ec);
                         });
    } else {
      handshake_with_beast();
    }
  }

  void handshake_with_beast() {
    // The WebSocket layer takes over timeouts (with keep-alive pings) once it is open.
    auto& ws = ws_->ws;
    beast::get_lowest_layer(ws).expires_never();
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
    // What is left of the connect timeout (Beast's own default would allow 30 s).
    timeouts.handshake_timeout = std::max<Clock::duration>(connect_deadline_ - Clock::now(),
                                                           std::chrono::milliseconds(1));
    ws.set_option(timeouts);
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(beast::http::field::user_agent, "callproxy"); }));
    ws.read_message_max(options_.max_message_bytes);
    ws.async_handshake(config_.target.authority(), config_.target.target,
                       [self = this->shared_from_this(), c = ws_](error_code ec) {
                         if (c == self->ws_) self->on_handshake(ec);
                       });
  }

  void on_handshake(error_code ec) {
    if (state_ == State::closed) return;
    if (ec) return on_connect_failed("WebSocket handshake failed: " + ec.message());
    if (reconnecting_) {
      metrics_.backend_reconnects.add();
      spdlog::info("call {}: backend {} reconnected", config_.call_label, config_.target.name());
    } else {
      spdlog::info("call {}: backend {} connected", config_.call_label, config_.target.name());
    }
    reconnecting_ = false;
    backoff_.reset();
    enter(State::open);
    if constexpr (!raw) ws_->ws.text(true);
    // The call's start goes first on every connection, ahead of anything queued meanwhile.
    // NOLINTNEXTLINE(modernize-loop-convert): backwards on purpose, each goes in front of the last
    for (auto it = config_.preamble.rbegin(); it != config_.preamble.rend(); ++it) {
      queue_.push_front(OutboundFrame{*it, {}, Clock::now()}, it->size());
    }
    do_read();
    if (finish_requested_) return begin_finishing();
    do_write();
  }

  // Deliver the queue, then close (the queue is never empty here: the start at least).
  void begin_finishing() {
    enter(State::finishing);
    if (!writing_ && queue_.empty()) return do_close();
    do_write();
  }

  void on_connect_failed(const std::string& why) {
    metrics_.backend_connect_failures.add();
    spdlog::warn("call {}: backend {}: {}", config_.call_label, config_.target.name(), why);
    if (reconnecting_) {
      // What queued during the failed attempt is stale by the next one: the live stream resumes.
      drop_queue(DropReason::backend_down);
      return schedule_retry();
    }
    // A backend that cannot be reached at the start of a call is a configuration problem:
    // no retry, the call goes on with the others.
    fail_for_good(why);
  }

  // ---- reconnection -------------------------------------------------------------------
  void on_dropped(const std::string& why) {
    if (state_ == State::closed) return;
    if (state_ == State::finishing || finish_requested_) return fail_for_good("call ended");
    spdlog::warn("call {}: backend {} dropped: {}", config_.call_label, config_.target.name(), why);
    if (!options_.backend_reconnect) return fail_for_good("dropped: " + why);
    // What was queued for the lost connection is lost with it; the live stream resumes.
    drop_queue(DropReason::backend_down);
    writing_ = false;
    drop_connection();
    reconnecting_ = true;
    attempt_started_ = Clock::now();
    enter(State::reconnecting);
    schedule_retry();
  }

  void schedule_retry() {
    if (Clock::now() - attempt_started_ > options_.backend_reconnect_window) {
      return fail_for_good("gave up reconnecting after " + std::to_string(options_.backend_reconnect_window.count()) +
                           " ms");
    }
    enter(State::reconnecting);
    drop_connection();
    retry_timer_.expires_after(backoff_.next());
    retry_timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec || self->state_ != State::reconnecting) return;
      self->enter(State::connecting);
      self->do_resolve();
    });
  }

  // ---- reading ------------------------------------------------------------------------
  void do_read() {
    auto handler = asio::bind_allocator(net::HandlerAllocator<void>{},
                                        [self = this->shared_from_this(), c = ws_](error_code ec, std::size_t n) {
                                          if (c == self->ws_) self->on_read(ec, n);
                                        });
    if constexpr (raw) {
      ws_->ws->async_read(std::move(handler));
    } else {
      ws_->ws.async_read(ws_->buffer, std::move(handler));
    }
  }

  void on_read(error_code ec, std::size_t) {
    if (state_ == State::closed) return;
    if (ec) {
      if (ec == websocket::error::message_too_big) metrics_.oversized_messages.add();
      if (ec.category() == net::read_limit_category()) metrics_.flood_closes[ParseSource::backend].add();
      return on_dropped(ec == websocket::error::closed ? "closed by backend" : ec.message());
    }
    auto connection = ws_;  // the callback may end the link: keep this connection's buffer alive
    if constexpr (raw) {
      if (events_.on_message) events_.on_message(*this, connection->ws->message(), !connection->ws->got_text());
    } else {
      const auto data = connection->buffer.cdata();
      const std::string_view text(static_cast<const char*>(data.data()), data.size());
      if (events_.on_message) events_.on_message(*this, text, !connection->ws.got_text());
      connection->buffer.consume(connection->buffer.size());
    }
    if (connection == ws_ && (state_ == State::open || state_ == State::finishing)) do_read();
  }

  // ---- writing ------------------------------------------------------------------------
  void do_write() {
    if (writing_ || queue_.empty() || !ws_ || (state_ != State::open && state_ != State::finishing)) return;
    if constexpr (raw) {
      // Each message goes to the socket at once; only one the socket does not take whole is
      // waited for (the link writes nothing more until it is through).
      while (!queue_.empty()) {
        const auto size = queue_.front().text.size();
        const auto& head = queue_.front();
        if (!(head.binary ? ws_->ws->write_binary(head.text.text()) : ws_->ws->write_text(head.text.text()))) {
          writing_ = true;
          ws_->ws->when_flushed([self = this->shared_from_this(), c = ws_, size](error_code ec) {
            if (c == self->ws_) self->on_write(ec, size);
          });
          return;
        }
        sent(size);
        if (state_ == State::finishing && queue_.empty()) return do_close();
      }
    } else {
      write_with_beast();
    }
  }

  void write_with_beast() {
    writing_ = true;
    ws_->ws.binary(queue_.front().binary);
    // The frame's text is kept alive by the handler: the queue may be cleared meanwhile.
    // Per frame: its memory comes from the loop's handler pool (net/handler_memory.h).
    ws_->ws.async_write(
        asio::buffer(queue_.front().text.text()),
        asio::bind_allocator(net::HandlerAllocator<void>{}, [self = this->shared_from_this(), c = ws_,
                                                             text = queue_.front().text](error_code ec, std::size_t n) {
          if (c == self->ws_) self->on_write(ec, n);
        }));
  }

  void on_write(error_code ec, std::size_t bytes) {
    if (state_ == State::closed || !writing_) return;
    writing_ = false;
    if (ec) return on_dropped(ec.message());
    sent(bytes);
    if (state_ == State::finishing && queue_.empty()) return do_close();
    do_write();
  }

  // The queue's head is in the kernel's hands.
  void sent(std::size_t bytes) {
    const auto& head = queue_.front();
    if (head.audio.count() > 0) {
      metrics_.frames_out.add();
      metrics_.forward_latency.observe(Clock::now() - head.received);
    }
    metrics_.bytes_out.add(bytes);
    queued_audio_ -= head.audio;
    queue_.pop();
  }

  void do_close() {
    auto done = [self = this->shared_from_this(), c = ws_](error_code) { self->fail_for_good("call ended"); };
    if constexpr (raw) {
      ws_->ws->async_close(websocket::close_reason(websocket::close_code::normal), std::move(done));
    } else {
      ws_->ws.async_close(websocket::close_code::normal, std::move(done));
    }
  }

  // ---- bookkeeping --------------------------------------------------------------------
  // Forgets the queue, counting its media frames as dropped for `reason`.
  void drop_queue(DropReason reason) {
    queue_.for_each([&](const OutboundFrame& f) {
      if (f.audio.count() > 0) metrics_.frames_dropped[reason].add();
    });
    queue_.clear();
    queued_audio_ = {};
  }

  void fail_for_good(const std::string& why, DropReason reason = DropReason::backend_down) {
    if (state_ == State::closed) return;
    const bool was_open = state_ == State::open || state_ == State::finishing;
    enter(State::closed);
    if (why == "call ended") {
      queue_.clear();
      queued_audio_ = {};
    } else {
      drop_queue(reason);
    }
    retry_timer_.cancel();
    finish_timer_.cancel();
    drop_connection();
    if (was_open && why != "call ended") {
      spdlog::warn("call {}: backend {} closed: {}", config_.call_label, config_.target.name(), why);
    }
    auto events = std::move(events_);  // no callbacks after this one
    if (events.on_closed) events.on_closed(*this, why);
  }

  // Closes the current connection's socket (its pending operations finish, aborted, holding the
  // connection alive until then) and forgets it.
  void drop_connection() {
    if (!ws_) return;
    const auto close = [](auto& socket) {
      error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    };
    if constexpr (raw) {
      if (ws_->ws) {
        close(ws_->ws->socket());
      } else {
        close(ws_->tcp.socket());
        close(ws_->local);
      }
    } else {
      close(beast::get_lowest_layer(ws_->ws).socket());
    }
    ws_.reset();
  }

  void enter(State next) {
    leave_gauge();
    state_ = next;
    if (auto* g = gauge_for(next)) g->add(1);
  }

  void leave_gauge() {
    if (auto* g = gauge_for(state_)) g->add(-1);
  }

  Gauge* gauge_for(State s) {
    switch (s) {
      case State::connecting: return &metrics_.links(LinkState::connecting);
      case State::open:
      case State::finishing: return &metrics_.links(LinkState::open);
      case State::reconnecting: return &metrics_.links(LinkState::reconnecting);
      case State::closed: return nullptr;
    }
    return nullptr;
  }

  asio::io_context& loop_;
  BackendLinkConfig config_;
  Events events_;
  const MediaOptions& options_;
  Metrics& metrics_;
  asio::steady_timer retry_timer_;
  asio::steady_timer finish_timer_;
  std::shared_ptr<Connection<Stream>> ws_;
  net::WriteQueue<OutboundFrame> queue_{{max_queued_messages, options_.max_backend_queue_bytes}};
  std::chrono::microseconds queued_audio_{0};
  bool writing_ = false;
  bool reconnecting_ = false;
  bool finish_requested_ = false;
  net::Backoff backoff_;
  Clock::time_point attempt_started_{};
  Clock::time_point connect_deadline_{};  // this connection attempt's, handshake included
  State state_ = State::closed;
};

}  // namespace

std::shared_ptr<BackendLink> start_backend_link(asio::io_context& loop, BackendLinkConfig config,
                                                BackendLink::Events events) {
  if (config.target.tls) {
    auto link = std::make_shared<WebSocketBackendLink<TlsStream>>(loop, std::move(config), std::move(events));
    link->start();
    return link;
  }
  auto link = std::make_shared<WebSocketBackendLink<RawStream>>(loop, std::move(config), std::move(events));
  link->start();
  return link;
}

}  // namespace callproxy::proxy
