#include "net/raw_websocket.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/version.hpp>
#include <spdlog/spdlog.h>

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

#include "net/websocket_frame.h"

// The readable wait (raw_websocket.h, ReadableWait and SocketAccess) is built on Asio internals,
// which are no API and may change in any release: detail::reactor_op and its perform/complete
// protocol, the epoll reactor's start_op, post_immediate_completion and its per-direction
// try_speculative_ flag, and basic_socket's protected impl_ (its socket_ and reactor_data_). They
// were read and tested on Boost 1.81 (Debian 12) only, so another Boost stops the build here
// rather than misbehave at run time. To take another: re-read those internals in its Asio, run
// the tests that drive this file over real sockets (tests/integration/media_framing_test.cpp,
// tests/integration/loop_fairness_test.cpp, tests/integration/media_proxy_test.cpp: callproxy_tests
// "[media],[fairness]"; tests/integration/alloc_test.cpp: callproxy_alloc_tests) and those of the framing it reads and
// writes (tests/net/websocket_frame_test.cpp: "[websocket]"), then widen the range below.
static_assert(BOOST_VERSION / 100 == 1081,
              "net/raw_websocket.cpp relies on Asio internals verified on Boost 1.81 only (reactor_op, the epoll "
              "reactor's start_op and try_speculative_, basic_socket's protected impl_): re-verify them for this "
              "Boost, run callproxy_tests \"[media],[fairness],[websocket]\" and callproxy_alloc_tests, then widen "
              "this check");

namespace callproxy::net {
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// A Twilio media message is ~370 bytes (a 160-byte frame in base64 and its JSON): the buffer
// starts with room for two and grows to the largest frame seen. It is most of a call's memory.
constexpr std::size_t initial_read_buffer = 1024;
// Pongs and closes are not queued behind this much unsent output (a peer that pings and never
// reads gets no answers rather than a growing buffer).
constexpr std::size_t control_output_limit = 64 * 1024;
// The work one read call does for a peer before the loop's other work gets its turn: frames
// handled (a media message is one, and ends the turn) and bytes read from the socket. 64 KiB is
// a few reads of the largest buffer; 32 frames are 600 ms of Twilio's audio.
constexpr std::size_t turn_frame_budget = 32;
constexpr std::size_t turn_byte_budget = 64 * 1024;

class ReadLimitCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "callproxy.read_limit"; }
  std::string message(int value) const override {
    switch (static_cast<ReadLimit>(value)) {
      case ReadLimit::control_frames: return "too many control frames (pings, pongs) per second";
      case ReadLimit::fragments: return "a message in too many fragments";
    }
    return "read limit";
  }
};

// Mask keys (RFC 6455 5.3: unpredictable, from a strong source): the kernel's random bytes,
// fetched 4 KiB at a time per thread, 1,024 frames per system call.
std::array<std::uint8_t, 4> next_mask_key() {
  thread_local std::array<std::uint8_t, 4096> pool;
  thread_local std::size_t used = pool.size();
  if (used == pool.size()) {
    std::size_t filled = 0;
    while (filled < pool.size()) {
      const auto n = ::getrandom(pool.data() + filled, pool.size() - filled, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error("getrandom failed");
      }
      filled += static_cast<std::size_t>(n);
    }
    used = 0;
  }
  std::array<std::uint8_t, 4> key;
  std::memcpy(key.data(), pool.data() + used, 4);
  used += 4;
  return key;
}

// The value of header `name` in an HTTP header block (case-insensitive name), or "" (and
// `count` tells how often it appeared).
std::string_view header_value(std::string_view block, std::string_view name, int& count) {
  std::string_view found;
  count = 0;
  std::size_t at = block.find("\r\n");
  while (at != std::string_view::npos && at + 2 < block.size()) {
    const auto start = at + 2;
    const auto end = block.find("\r\n", start);
    if (end == std::string_view::npos) break;
    const auto line = block.substr(start, end - start);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos && boost::beast::iequals(line.substr(0, colon), name)) {
      auto value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      found = value;
      ++count;
    }
    at = end;
  }
  return found;
}

bool token_listed(std::string_view list, std::string_view token) {
  for (const auto& item : http::token_list(list)) {
    if (boost::beast::iequals(item, token)) return true;
  }
  return false;
}

}  // namespace

const boost::system::error_category& read_limit_category() {
  static const ReadLimitCategory category;
  return category;
}

bool RawWebSocket::can_accept(const http::request<http::string_body>& request) {
  if (request.method() != http::verb::get || request.version() != 11) return false;
  if (request.count(http::field::sec_websocket_key) != 1 || request.count(http::field::sec_websocket_version) != 1) {
    return false;
  }
  if (request[http::field::sec_websocket_version] != "13") return false;
  if (!ws::valid_client_key(request[http::field::sec_websocket_key])) return false;
  return token_listed(request[http::field::connection], "upgrade") &&
         token_listed(request[http::field::upgrade], "websocket");
}

RawWebSocket::RawWebSocket(LoopTcpStream&& stream, Role role)
    : RawWebSocket(LoopStreamSocket(stream.release_socket()), role) {}

RawWebSocket::RawWebSocket(LoopStreamSocket&& socket, Role role)
    : socket_(std::move(socket)),
      reactor_(asio::use_service<asio::detail::reactor>(socket_.get_executor().context())),
      role_(role),
      close_timer_(socket_.get_executor()) {
  error_code ignored;
  socket_.non_blocking(true, ignored);
}

RawWebSocket::~RawWebSocket() { *alive_ = false; }

std::string RawWebSocket::handshake_response(const http::request<http::string_body>& request) const {
  std::string response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
  response += "Sec-WebSocket-Accept: ";
  response += ws::accept_key(request[http::field::sec_websocket_key]);
  response += "\r\n";
  response += extra_headers_;
  response += "\r\n";
  return response;
}

// ---- the client's handshake --------------------------------------------------------------

void RawWebSocket::start_handshake(std::string_view host, std::string_view target, std::chrono::milliseconds timeout) {
  std::array<std::uint8_t, 16> nonce;
  for (std::size_t i = 0; i < nonce.size(); i += 4) {
    const auto key = next_mask_key();
    std::memcpy(nonce.data() + i, key.data(), 4);
  }
  const auto key = ws::encode_base64(nonce.data(), nonce.size());
  expected_accept_ = ws::accept_key(key);
  std::string request = "GET ";
  request += target.empty() ? "/" : target;
  request += " HTTP/1.1\r\nHost: ";
  request += host;
  request += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  request += key;
  request += "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: callproxy\r\n\r\n";
  close_timer_.expires_after(timeout);
  close_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](error_code ec) {
    const auto live = alive.lock();
    if (ec || !live || !*live || !handshake_done_) return;
    handshake_finished(asio::error::timed_out);
  });
  send_raw(request);
  if (write_error_) return handshake_finished(write_error_);
  read_handshake_response();
}

void RawWebSocket::read_handshake_response() {
  socket_.async_wait(LoopStreamSocket::wait_read, [this, alive = std::weak_ptr<bool>(alive_)](error_code ec) {
    const auto live = alive.lock();
    if (!live || !*live || !handshake_done_) return;
    if (ec) return handshake_finished(ec);
    if (!in_) {
      in_size_ = initial_read_buffer + padding_;
      in_ = std::make_unique<std::uint8_t[]>(in_size_);
    }
    const std::size_t room = in_size_ - padding_ - end_;
    const auto n = socket_.read_some(asio::buffer(in_.get() + end_, room), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return read_handshake_response();
    if (ec) return handshake_finished(ec);
    end_ += n;
    const std::string_view got(reinterpret_cast<const char*>(in_.get()), end_);
    const auto header_end = got.find("\r\n\r\n");
    if (header_end == std::string_view::npos) {
      if (end_ + padding_ >= in_size_) return handshake_finished(make_error_code(boost::system::errc::message_size));
      return read_handshake_response();
    }
    const auto block = got.substr(0, header_end + 2);
    int count = 0;
    const bool switching = block.rfind("HTTP/1.1 101 ", 0) == 0 || block.rfind("HTTP/1.1 101\r\n", 0) == 0;
    const bool upgrade = token_listed(header_value(block, "Upgrade", count), "websocket");
    const bool connection = token_listed(header_value(block, "Connection", count), "upgrade");
    const auto accept = header_value(block, "Sec-WebSocket-Accept", count);
    const bool accept_ok = count == 1 && accept == expected_accept_;
    header_value(block, "Sec-WebSocket-Extensions", count);
    const bool no_extensions = count == 0;  // none was offered
    header_value(block, "Sec-WebSocket-Protocol", count);
    const bool no_subprotocol = count == 0;  // none was asked for (RFC 6455 4.1: fail the connection)
    if (!switching) return handshake_finished(websocket::error::upgrade_declined);
    if (!upgrade) return handshake_finished(websocket::error::no_upgrade);
    if (!connection) return handshake_finished(websocket::error::no_connection_upgrade);
    if (!accept_ok) return handshake_finished(websocket::error::bad_sec_accept);
    if (!no_extensions || !no_subprotocol) {
      return handshake_finished(make_error_code(boost::system::errc::protocol_error));
    }
    begin_ = header_end + 4;  // what follows is the first frames
    drained_ = n < room;
    if (begin_ == end_ && drained_) {
      // Nothing after the 101: the buffer goes until a frame comes. Most backends (recorders,
      // transcribers, every one but a call's primary) never send one.
      in_.reset();
      in_size_ = 0;
      begin_ = end_ = 0;
    }
    handshake_finished({});
  });
}

void RawWebSocket::handshake_finished(error_code ec) {
  close_timer_.cancel();
  auto done = std::move(handshake_done_);
  handshake_done_ = nullptr;
  if (ec) drop_socket();
  if (done) post_now([done = std::move(done), ec] { done(ec); });
}

// ---- reading ------------------------------------------------------------------------------

RawWebSocket::Event RawWebSocket::read_while_undrained(Event event) {
  while (event.kind == Event::need_read && !drained_) {
    if (turn_bytes_ >= turn_byte_budget) return {Event::yield, {}, 0};
    event = read_and_parse();
  }
  return event;
}

RawWebSocket::Event RawWebSocket::read_and_parse() {
  if (dropped_) return {Event::failed, asio::error::operation_aborted, 0};
  // Room for the frame being read: the buffer grows (to the largest frame seen) or its unread
  // bytes move to its start, and `padding_` bytes always stay unread at its end.
  if (!in_) {
    in_size_ = initial_read_buffer + padding_;
    in_ = std::make_unique<std::uint8_t[]>(in_size_);
  }
  if (begin_ == end_) begin_ = end_ = 0;
  if (in_size_ - padding_ - end_ < 512 && begin_ > 0) {
    std::memmove(in_.get(), in_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  // No more than the turn's budget has left (the buffer grows to the largest frame seen, up to
  // --max-message-bytes): a turn reads at most turn_byte_budget.
  const std::size_t budget_left = turn_bytes_ < turn_byte_budget ? turn_byte_budget - turn_bytes_ : 1;
  const std::size_t room = std::min(in_size_ - padding_ - end_, budget_left);
  error_code ec;
  const auto n = socket_.read_some(asio::buffer(in_.get() + end_, room), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    drained_ = true;
    return {Event::need_read, {}, 0};
  }
  if (ec) return {Event::failed, ec, 0};
  end_ += n;
  turn_bytes_ += n;
  drained_ = n < room;
  return parse_buffered();
}

RawWebSocket::Event RawWebSocket::fail(std::uint16_t close_code, error_code ec, const char* why) {
  spdlog::debug("media: WebSocket stream closed ({}): {}", close_code, why);
  if (!close_sent_ && !dropped_) {
    std::array<char, 2> code{static_cast<char>(close_code >> 8), static_cast<char>(close_code & 0xFF)};
    send_frame(8, std::string_view(code.data(), code.size()));
    close_sent_ = true;
  }
  drop_socket();
  return {Event::failed, ec, 0};
}

// A token bucket: control_rate_ frames a second, as many at once.
bool RawWebSocket::control_frame_allowed() {
  const auto now = std::chrono::steady_clock::now();
  const std::chrono::duration<double> elapsed = now - control_refilled_;
  control_refilled_ = now;
  control_tokens_ = std::min<double>(control_rate_, control_tokens_ + elapsed.count() * control_rate_);
  if (control_tokens_ < 1) return false;
  control_tokens_ -= 1;
  return true;
}

RawWebSocket::Event RawWebSocket::parse_buffered() {
  for (;;) {
    if (dropped_) return {Event::failed, asio::error::operation_aborted, 0};
    if (turn_frames_ >= turn_frame_budget) return {Event::yield, {}, 0};
    ws::FrameHeader header;
    const auto result = ws::read_frame_header(in_.get() + begin_, end_ - begin_, role_ == Role::server, header);
    if (result.status == ws::HeaderStatus::protocol_error) {
      return fail(1002, make_error_code(boost::system::errc::protocol_error), result.error);
    }
    if (result.status == ws::HeaderStatus::need_more) return {Event::need_read, {}, 0};
    const auto op = static_cast<std::uint8_t>(header.opcode);
    if (!ws::is_control(header.opcode)) {
      const bool continuation = header.opcode == ws::Opcode::continuation;
      if (continuation != in_fragments_) {
        return fail(1002, make_error_code(boost::system::errc::protocol_error),
                    continuation ? "continuation without a message" : "new message inside a fragmented one");
      }
      const std::uint64_t so_far = in_fragments_ ? fragments_.size() : 0;
      if (header.length > max_message_ || so_far + header.length > max_message_) {
        return fail(1009, websocket::error::message_too_big, "message too big");
      }
    }
    const std::size_t frame_bytes = header.header_bytes + static_cast<std::size_t>(header.length);
    if (end_ - begin_ < frame_bytes) {
      // The whole frame must fit before it is handled: make room for it now.
      const std::size_t needed = frame_bytes + padding_;
      if (needed > in_size_ - begin_) {
        if (needed > in_size_) {
          auto bigger = std::make_unique<std::uint8_t[]>(std::max(needed, in_size_ * 2));
          std::memcpy(bigger.get(), in_.get() + begin_, end_ - begin_);
          in_size_ = std::max(needed, in_size_ * 2);
          in_ = std::move(bigger);
        } else {
          std::memmove(in_.get(), in_.get() + begin_, end_ - begin_);
        }
        end_ -= begin_;
        begin_ = 0;
      }
      drained_ = false;  // more of this frame may be waiting already
      return {Event::need_read, {}, 0};
    }
    auto* payload = in_.get() + begin_ + header.header_bytes;
    const auto length = static_cast<std::size_t>(header.length);
    if (header.masked) ws::unmask(payload, length, header.key);
    begin_ += frame_bytes;
    ++turn_frames_;
    if ((header.opcode == ws::Opcode::ping || header.opcode == ws::Opcode::pong) && !control_frame_allowed()) {
      return fail(1008, ReadLimit::control_frames, "too many control frames");
    }
    const std::string_view text(reinterpret_cast<const char*>(payload), length);

    switch (header.opcode) {
      case ws::Opcode::ping:
        if (!close_sent_ && out_.size() - out_sent_ < control_output_limit) send_frame(10, text);
        if (on_control_) on_control_();
        continue;
      case ws::Opcode::pong:
        if (on_control_) on_control_();
        continue;
      case ws::Opcode::close: {
        const auto close = ws::read_close_payload(text);
        if (!close.valid) return fail(1002, make_error_code(boost::system::errc::protocol_error), "bad close frame");
        close_received_ = true;
        if (!close_sent_) {
          // Echo the peer's code, as Beast does, then the server ends the TCP connection.
          std::array<char, 2> code{static_cast<char>(close.code >> 8), static_cast<char>(close.code & 0xFF)};
          send_frame(8, close.code == 0 ? std::string_view{} : std::string_view(code.data(), code.size()));
          close_sent_ = true;
        }
        drop_socket();
        return {Event::closed, websocket::error::closed, 0};
      }
      default: break;
    }
    if (close_sent_) continue;  // data after our close is not read (RFC 6455 5.5.1)

    if (!header.fin) {
      if (!in_fragments_) {
        in_fragments_ = true;
        fragments_opcode_ = op;
        fragments_.clear();
        fragment_count_ = 0;
      }
      if (++fragment_count_ >= max_fragments_) return fail(1009, ReadLimit::fragments, "too many fragments");
      fragments_.append(text);
      continue;
    }
    if (in_fragments_) {
      fragments_.append(text);
      in_fragments_ = false;
      fragments_.reserve(fragments_.size() + padding_);
      message_data_ = fragments_.data();
      message_size_ = fragments_.size();
      message_capacity_ = fragments_.capacity();
      message_text_ = fragments_opcode_ == 1;
    } else {
      message_data_ = text.data();
      message_size_ = length;
      message_capacity_ = in_size_ - (begin_ - frame_bytes + header.header_bytes);
      message_text_ = header.opcode == ws::Opcode::text;
    }
    if (message_text_ && !ws::valid_utf8(message())) {
      return fail(1007, websocket::error::bad_frame_payload, "text message is not UTF-8");
    }
    return {Event::message, {}, message_size_};
  }
}

void RawWebSocket::reading_over(error_code) {
  drop_socket();
  if (close_handler_) {
    auto handler = std::move(close_handler_);
    close_handler_ = nullptr;
    post_now([handler = std::move(handler)] { handler({}); });
  }
}

// ---- writing ------------------------------------------------------------------------------

void RawWebSocket::send_frame(std::uint8_t opcode, std::string_view payload) {
  if (dropped_ || write_error_) return;
  std::uint8_t header[ws::max_header_bytes];
  std::size_t header_size;
  if (role_ == Role::client) {
    // A client masks every frame: the payload is copied (the text may be shared) and masked.
    // The masked copy is made in one buffer per thread: what the socket does not take at once is
    // copied to out_ below, so nothing refers to it after this call.
    thread_local std::string masked;
    const auto key = next_mask_key();
    header_size = ws::write_frame_header(header, static_cast<ws::Opcode>(opcode), payload.size(), &key);
    masked.assign(payload);
    ws::unmask(reinterpret_cast<std::uint8_t*>(masked.data()), masked.size(), key);
    payload = masked;
  } else {
    header_size = ws::write_frame_header(header, static_cast<ws::Opcode>(opcode), payload.size());
  }
  if (out_.size() == out_sent_) {
    // Nothing waiting: straight to the socket, and only what it does not take is kept.
    out_.clear();
    out_sent_ = 0;
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(header, header_size),
                                                    asio::buffer(payload.data(), payload.size())};
    error_code ec;
    const auto n = socket_.write_some(buffers, ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
      write_error_ = ec;
      return drop_socket();
    }
    const std::size_t sent = ec ? 0 : n;
    if (sent == header_size + payload.size()) return;
    if (sent < header_size) out_.append(reinterpret_cast<const char*>(header) + sent, header_size - sent);
    out_.append(payload.substr(sent > header_size ? sent - header_size : 0));
    return wait_writable();
  }
  out_.append(reinterpret_cast<const char*>(header), header_size);
  out_.append(payload);
}

void RawWebSocket::send_raw(std::string_view bytes) {
  if (dropped_ || write_error_) return;
  out_.append(bytes);
  flush();
}

void RawWebSocket::flush() {
  while (out_sent_ < out_.size()) {
    error_code ec;
    const auto n = socket_.write_some(asio::buffer(out_.data() + out_sent_, out_.size() - out_sent_), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return wait_writable();
    if (ec) {
      write_error_ = ec;
      drop_socket();
      break;
    }
    out_sent_ += n;
  }
  // A backlog (or the handshake) is over: its memory goes back (frames that the socket takes
  // whole never come here, so this is not per frame).
  std::string().swap(out_);
  out_sent_ = 0;
  if (flushed_) {
    auto handler = std::move(flushed_);
    flushed_ = nullptr;
    post_now([handler = std::move(handler), ec = write_error_] { handler(ec); });
  }
}

void RawWebSocket::wait_writable() {
  if (waiting_writable_ || dropped_) return;
  waiting_writable_ = true;
  socket_.async_wait(LoopStreamSocket::wait_write, [this, alive = std::weak_ptr<bool>(alive_)](error_code ec) {
    const auto live = alive.lock();
    if (!live || !*live) return;
    waiting_writable_ = false;
    if (ec) {
      if (!write_error_) write_error_ = ec;
      if (flushed_) {
        auto handler = std::move(flushed_);
        flushed_ = nullptr;
        handler(write_error_);
      }
      return;
    }
    flush();
  });
}

// ---- closing ------------------------------------------------------------------------------

void RawWebSocket::start_close(std::uint16_t code, std::string_view reason) {
  if (dropped_) return reading_over({});
  if (!close_sent_) {
    std::string payload;
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    payload.append(reason.substr(0, 123));
    send_frame(8, payload);
    close_sent_ = true;
  }
  close_timer_.expires_after(close_timeout_);
  close_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](error_code ec) {
    const auto live = alive.lock();
    if (ec || !live || !*live) return;
    // No close from the peer in time: the socket goes, and the pending read ends with it.
    drop_socket();
  });
}

void RawWebSocket::drop_socket() {
  if (dropped_) return;
  dropped_ = true;
  close_timer_.cancel();
  error_code ignored;
  socket_.cancel(ignored);  // a pending read ends now (aborted), not when the peer goes
  // What the kernel holds is still delivered, then the end of stream; the socket lingers,
  // reading and discarding, until the peer closes too (closing it with unread bytes would
  // answer with a reset, which may destroy our close frame before the peer reads it).
  socket_.shutdown(LoopStreamSocket::shutdown_send, ignored);
  linger(std::move(socket_), std::move(held_));
  if (flushed_) {
    auto handler = std::move(flushed_);
    flushed_ = nullptr;
    post_now([handler = std::move(handler),
              ec = write_error_ ? write_error_ : error_code(asio::error::operation_aborted)] { handler(ec); });
  }
}

namespace {

struct Lingering {
  Lingering(LoopStreamSocket&& s, std::shared_ptr<void> h)
      : socket(std::move(s)), held(std::move(h)), timer(socket.get_executor()) {}
  LoopStreamSocket socket;
  std::shared_ptr<void> held;  // released with the last handler, after the socket is closed
  asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, LoopExecutor>
      timer;
  std::size_t discarded = 0;
};

// What lingering sockets read is thrown away: one buffer per loop thread serves them all (a
// loop's reads all happen on its own thread, one at a time).
thread_local std::array<char, 16 * 1024> discard_buffer;
// A peer that goes on sending after our close (a flood, say) is read this far; then nothing
// more is read and the socket waits out its linger: the peer's sends stall on a full window and
// cost serve nothing, and it still has the rest of the linger to read our close before the
// socket closes (closing at once, with its bytes unread, would reset the connection, which may
// destroy the close frame it has not read yet).
constexpr std::size_t max_discarded = 64 * 1024;

void discard_until_end(const std::shared_ptr<Lingering>& lingering) {
  lingering->socket.async_read_some(asio::buffer(discard_buffer), [lingering](error_code ec, std::size_t n) {
    lingering->discarded += n;
    if (!ec && lingering->discarded < max_discarded) return discard_until_end(lingering);
    if (!ec) return;  // read enough: the timer closes it
    lingering->timer.cancel();
    error_code ignored;
    lingering->socket.close(ignored);
  });
}

}  // namespace

void RawWebSocket::linger(LoopStreamSocket&& socket, std::shared_ptr<void> held) {
  if (!socket.is_open()) return;
  auto lingering = std::make_shared<Lingering>(std::move(socket), std::move(held));
  lingering->timer.expires_after(std::chrono::seconds(2));
  lingering->timer.async_wait([lingering](error_code ec) {
    if (ec) return;
    error_code ignored;
    lingering->socket.close(ignored);
  });
  discard_until_end(lingering);
}

}  // namespace callproxy::net
