// A WebSocket on a plain TCP socket, framed by us (net/websocket_frame.h) rather than by Beast:
// the media path's per-frame work is one read and the parse, one write, nothing else. The server
// role takes Twilio's streams; the client role is a backend link's (it masks what it sends).
// Beast's stream does a speculative read after every message (a recvmsg that returns EAGAIN per
// frame, since Twilio sends one message per 20 ms), runs a composed operation per read and
// validates UTF-8 a byte at a time; here the socket is read only when epoll says it is readable
// and a message is handed over where it lies in the read buffer, unmasked in place.
//
// Its interface is the part of Beast's websocket::stream the call session uses, with the same
// error codes, so the session is one template for both (TLS connections keep Beast's stream).
// For the networking sources only (it names Asio and Beast types). One loop thread: no locks.
#pragma once

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "net/loop_stream.h"

namespace callproxy::net {

// Limits on what a peer may make a stream do that no message size bounds: past either, the
// stream is closed (1008 for control frames, 1009 for fragments) and the read ends with this.
enum class ReadLimit { control_frames = 1, fragments };
const boost::system::error_category& read_limit_category();
inline boost::system::error_code make_error_code(ReadLimit e) { return {static_cast<int>(e), read_limit_category()}; }

namespace raw_websocket_detail {

// A wait for "the socket may be readable" that costs no system call when it starts.
//
// Asio's epoll reactor registers a socket once, edge-triggered, and keeps a per-direction flag
// (try_speculative_) that is set whenever epoll reports the socket readable and cleared when an
// operation says it exhausted the socket. Its own async_wait ignores that flag and re-arms the
// socket with epoll_ctl(MOD) every time (a system call per frame); its own read tries recv first
// (an EAGAIN per frame). This operation reports "exhausted" when it completes, so:
//   - started while no readiness arrived since the last one was used (the steady state: the
//     read that follows it left the socket empty): it is queued without any system call, and the
//     next edge (new data, end of stream, error) completes it;
//   - started after readiness arrived that nobody waited for: it completes at once (the caller
//     then reads, which at worst returns EAGAIN and waits again).
// The caller must only wait after a read found the socket empty (it read less than it asked
// for, or EAGAIN): data already there raises no new edge. Relies on Asio's detail namespace
// (reactor_op, the reactor's start_op); tests/integration/media_framing_test.cpp and the media suite
// cover it, and raw_websocket.cpp refuses to build on a Boost other than the one that was verified.
template <class Handler>
class ReadableWait final : public boost::asio::detail::reactor_op {
 public:
  using allocator_type = typename std::allocator_traits<boost::asio::associated_allocator_t<
      Handler, boost::asio::recycling_allocator<void>>>::template rebind_alloc<ReadableWait>;

  explicit ReadableWait(Handler&& handler)
      : reactor_op(boost::system::error_code(), &ReadableWait::perform_wait, &ReadableWait::complete_wait),
        handler_(std::move(handler)) {}

  static ReadableWait* make(Handler&& handler) {
    allocator_type alloc(boost::asio::get_associated_allocator(handler, boost::asio::recycling_allocator<void>()));
    auto* memory = std::allocator_traits<allocator_type>::allocate(alloc, 1);
    return new (memory) ReadableWait(std::move(handler));
  }

 private:
  static status perform_wait(reactor_op*) { return done_and_exhausted; }
  // owner is null when the loop is destroyed with the wait pending: free it, call nothing.
  static void complete_wait(void* owner, boost::asio::detail::operation* base, const boost::system::error_code&,
                            std::size_t) {
    auto* self = static_cast<ReadableWait*>(base);
    Handler handler(std::move(self->handler_));
    const boost::system::error_code ec = self->ec_;
    allocator_type alloc(boost::asio::get_associated_allocator(handler, boost::asio::recycling_allocator<void>()));
    self->~ReadableWait();
    std::allocator_traits<allocator_type>::deallocate(alloc, self, 1);
    if (owner) handler(ec);
  }

  Handler handler_;
};

// The reactor's handle of a socket (Asio keeps it in the socket's protected implementation).
struct SocketAccess : LoopStreamSocket {
  static auto& implementation(LoopStreamSocket& socket) {
    return (socket.*(&SocketAccess::impl_)).get_implementation();
  }
};

}  // namespace raw_websocket_detail

class RawWebSocket {
 public:
  using executor_type = LoopExecutor;
  using error_code = boost::system::error_code;
  enum class Role { server, client };

  // Whether the upgrade request is one this class answers itself: GET, HTTP/1.1, version 13 and
  // one well-formed key. serve refuses anything else before the 101 (400 or 426).
  static bool can_accept(const boost::beast::http::request<boost::beast::http::string_body>& request);

  explicit RawWebSocket(LoopTcpStream&& stream, Role role = Role::server);
  // A connected socket of any family (a unix: backend's).
  explicit RawWebSocket(LoopStreamSocket&& socket, Role role);
  ~RawWebSocket();
  RawWebSocket(const RawWebSocket&) = delete;
  RawWebSocket& operator=(const RawWebSocket&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  LoopStreamSocket& socket() { return socket_; }

  void read_message_max(std::size_t bytes) { max_message_ = bytes; }
  // Pings and pongs a peer may send: `per_second` on average, as many at once (past it: 1008).
  void max_control_frames(unsigned per_second) {
    control_rate_ = per_second;
    control_tokens_ = per_second;
  }
  // Frames one fragmented message may come in (past it: 1009). Empty fragments cost no bytes, so
  // --max-message-bytes alone would let a peer send them for ever.
  void max_message_fragments(std::size_t fragments) { max_fragments_ = fragments; }
  // Readable bytes the reader may touch past every message it is handed (before the first read).
  void read_padding(std::size_t bytes) { padding_ = bytes; }
  // Called for every ping and pong the peer sends.
  void control_callback(std::function<void()> callback) { on_control_ = std::move(callback); }
  // Extra header lines for the 101 answer, each ending in CRLF.
  void response_headers(std::string lines) { extra_headers_ = std::move(lines); }
  // Whatever `held` is (a place among serve's connection limits) lives as long as the socket,
  // lingering after a close included: no open descriptor is outside the limits.
  void hold_until_closed(std::shared_ptr<void> held) { held_ = std::move(held); }
  // How long a close we started waits for the peer's close before the socket is dropped.
  void close_timeout(std::chrono::milliseconds timeout) { close_timeout_ = timeout; }

  // The client's opening handshake: handler(error_code) once the server's 101 is read and
  // checked (or after `timeout`: error::timeout). Bytes after the 101 are the first frames.
  template <class Handler>
  void async_handshake(std::string_view host, std::string_view target, std::chrono::milliseconds timeout,
                       Handler&& handler) {
    handshake_done_ = std::forward<Handler>(handler);
    start_handshake(host, target, timeout);
  }

  // Sends a text message now, as far as the socket takes it: true when all of it is in the
  // kernel's hands (nothing to wait for); false when the rest waits for the socket, or it failed:
  // when_flushed() then says when it is through, or the error.
  bool write_text(std::string_view text) {
    send_frame(1, text);
    return out_.size() == out_sent_ && !write_error_ && !dropped_;
  }
  // The same for a binary message (an audio shape's raw frames).
  bool write_binary(std::string_view bytes) {
    send_frame(2, bytes);
    return out_.size() == out_sent_ && !write_error_ && !dropped_;
  }
  // handler(error_code) once everything sent so far is in the kernel's hands (posted).
  template <class Handler>
  void when_flushed(Handler&& handler) {
    if (out_.size() == out_sent_ || write_error_ || dropped_) {
      post_now([h = std::forward<Handler>(handler), ec = write_error_ ? write_error_
                                                         : dropped_ ? error_code(boost::asio::error::operation_aborted)
                                                                    : error_code()]() mutable { h(ec); });
    } else {
      flushed_ = std::forward<Handler>(handler);
    }
  }

  // handler(error_code)
  template <class Handler>
  void async_accept(const boost::beast::http::request<boost::beast::http::string_body>& request, Handler&& handler) {
    send_raw(handshake_response(request));
    when_flushed(std::forward<Handler>(handler));
  }

  // handler(error_code, bytes): the message is then message() (text when got_text()), valid
  // until the next read; message_capacity() bytes are readable from its start (>= its size plus
  // the read padding). Errors: websocket::error::closed after a close handshake,
  // message_too_big (closed with 1009), bad_frame_payload (1007), errc::protocol_error (1002).
  //
  // Fairness: one call does a bounded amount of work (turn_frame_budget frames, turn_byte_budget
  // bytes read) and, if it found no message within it, continues in a handler posted behind the
  // loop's other work: a peer that floods pings or empty fragments cannot hold the loop.
  template <class Handler>
  void async_read(Handler&& handler) {
    begin_turn();
    const auto event = read_while_undrained(parse_buffered());
    if (event.kind == Event::need_read) return wait_then_read(std::forward<Handler>(handler));
    if (event.kind == Event::yield) return continue_later(std::forward<Handler>(handler));
    // An end found here is an end as on the wait's path: the socket goes and a close we started
    // learns it (its handler may hold our owner: left pending, neither would ever go).
    if (event.kind == Event::failed || event.kind == Event::closed) reading_over(event.ec);
    auto alloc = boost::asio::get_associated_allocator(handler);
    boost::asio::post(socket_.get_executor(),
                      boost::asio::bind_allocator(
                          alloc, [h = std::forward<Handler>(handler), event]() mutable { h(event.ec, event.bytes); }));
  }
  std::string_view message() const { return {message_data_, message_size_}; }
  std::size_t message_capacity() const { return message_capacity_; }
  bool got_text() const { return message_text_; }

  // Messages are always text (what Twilio reads); kept for Beast's interface.
  void text(bool) {}

  // handler(error_code, bytes): called once the message is in the kernel's hands.
  template <class Handler>
  void async_write(boost::asio::const_buffer buffer, Handler&& handler) {
    const std::string_view text(static_cast<const char*>(buffer.data()), buffer.size());
    send_frame(1, text);
    when_flushed([h = std::forward<Handler>(handler), n = buffer.size()](error_code ec) mutable { h(ec, n); });
  }

  // handler(error_code)
  template <class Handler>
  void async_ping(const boost::beast::websocket::ping_data&, Handler&& handler) {
    send_frame(9, {});
    post_now([h = std::forward<Handler>(handler), ec = write_error_]() mutable { h(ec); });
  }

  // Sends a close and waits (up to the close timeout) for the peer's, then drops the socket.
  // handler(error_code); a read must be pending for the peer's close to be seen.
  template <class Handler>
  void async_close(const boost::beast::websocket::close_reason& reason, Handler&& handler) {
    close_handler_ = std::forward<Handler>(handler);
    start_close(static_cast<std::uint16_t>(reason.code), std::string_view(reason.reason.data(), reason.reason.size()));
  }

 private:
  struct Event {
    // yield: the turn's budget is spent with no message yet; the read goes on in a later turn.
    enum Kind { need_read, yield, message, closed, failed } kind = need_read;
    error_code ec;
    std::size_t bytes = 0;
  };

  // Waits until the (drained) socket may be readable, then reads until a message, an end, or
  // the socket is empty again (then waits again).
  template <class Handler>
  void wait_then_read(Handler&& handler) {
    auto alloc = boost::asio::get_associated_allocator(handler);
    wait_readable(boost::asio::bind_allocator(alloc, [this, h = std::forward<Handler>(handler)](error_code ec) mutable {
      if (ec) return finish_read(h, Event{Event::failed, ec, 0});
      begin_turn();
      const auto event = read_while_undrained(read_and_parse());
      if (event.kind == Event::need_read) return wait_then_read(std::move(h));
      if (event.kind == Event::yield) return continue_later(std::move(h));
      finish_read(h, event);
    }));
  }
  // The read goes on in a handler queued behind what the loop has ready (other sockets, timers).
  // The handler keeps its owner, and so this stream, alive, as every read's handler does.
  template <class Handler>
  void continue_later(Handler&& handler) {
    auto alloc = boost::asio::get_associated_allocator(handler);
    boost::asio::post(socket_.get_executor(),
                      boost::asio::bind_allocator(
                          alloc, [this, h = std::forward<Handler>(handler)]() mutable { async_read(std::move(h)); }));
  }
  template <class Handler>
  void wait_readable(Handler&& handler) {
    using Wait = raw_websocket_detail::ReadableWait<std::decay_t<Handler>>;
    auto* wait = Wait::make(std::forward<Handler>(handler));
    auto& socket = raw_websocket_detail::SocketAccess::implementation(socket_);
    if (dropped_ || !socket_.is_open()) {
      wait->ec_ = boost::asio::error::operation_aborted;
      reactor_.post_immediate_completion(wait, false);
      return;
    }
    reactor_.start_op(boost::asio::detail::reactor::read_op, socket.socket_, socket.reactor_data_, wait, false, true);
  }
  template <class Handler>
  void finish_read(Handler& handler, const Event& event) {
    if (event.kind == Event::failed || event.kind == Event::closed) reading_over(event.ec);
    handler(event.ec, event.bytes);
  }
  template <class F>
  void post_now(F&& f) {
    boost::asio::post(socket_.get_executor(), std::forward<F>(f));
  }

  void start_handshake(std::string_view host, std::string_view target, std::chrono::milliseconds timeout);
  void read_handshake_response();
  void handshake_finished(error_code ec);
  std::string handshake_response(const boost::beast::http::request<boost::beast::http::string_body>& request) const;
  Event parse_buffered();  // a message, or an end, from bytes already read
  Event read_and_parse();  // reads what the socket has, then parse_buffered()
  // `event`, or while it needs bytes and the socket may still hold some, the next read's
  Event read_while_undrained(Event event);
  Event fail(std::uint16_t close_code, error_code ec, const char* why);
  void begin_turn() {
    turn_frames_ = 0;
    turn_bytes_ = 0;
  }
  bool control_frame_allowed();
  void reading_over(error_code ec);
  void send_frame(std::uint8_t opcode, std::string_view payload);
  void send_raw(std::string_view bytes);
  void flush();
  void wait_writable();
  void start_close(std::uint16_t code, std::string_view reason);
  void drop_socket();
  static void linger(LoopStreamSocket&& socket, std::shared_ptr<void> held);

  LoopStreamSocket socket_;
  boost::asio::detail::reactor& reactor_;
  Role role_;
  std::size_t padding_ = 64;
  std::size_t max_message_ = 64 * 1024;
  unsigned control_rate_ = 32;
  std::size_t max_fragments_ = 128;
  std::chrono::milliseconds close_timeout_{5000};
  std::function<void()> on_control_;
  std::string extra_headers_;
  std::shared_ptr<void> held_;

  // Read side: bytes [begin_, end_) of in_ are read and not yet consumed.
  std::unique_ptr<std::uint8_t[]> in_;
  std::size_t in_size_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool drained_ = true;          // the last read left the socket empty: wait before reading again
  std::size_t turn_frames_ = 0;  // frames handled and bytes read in this turn (fairness budget)
  std::size_t turn_bytes_ = 0;
  double control_tokens_ = 32;  // control frames the peer may still send now (refilled over time)
  std::chrono::steady_clock::time_point control_refilled_ = std::chrono::steady_clock::now();
  std::size_t fragment_count_ = 0;  // frames of the fragmented message so far
  std::string fragments_;           // a fragmented message so far
  std::uint8_t fragments_opcode_ = 0;
  bool in_fragments_ = false;
  const char* message_data_ = nullptr;
  std::size_t message_size_ = 0;
  std::size_t message_capacity_ = 0;
  bool message_text_ = true;

  // Client handshake.
  std::string expected_accept_;
  std::function<void(error_code)> handshake_done_;

  // Write side: out_[out_sent_..] waits for the socket.
  std::string out_;
  std::size_t out_sent_ = 0;
  bool waiting_writable_ = false;
  error_code write_error_;
  std::function<void(error_code)> flushed_;

  // Closing.
  bool close_sent_ = false;
  bool close_received_ = false;
  bool dropped_ = false;
  std::function<void(error_code)> close_handler_;
  boost::asio::basic_waitable_timer<std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>,
                                    LoopExecutor>
      close_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for handlers that outlive us
};

}  // namespace callproxy::net

template <>
struct boost::system::is_error_code_enum<callproxy::net::ReadLimit> : std::true_type {};
