// A Twilio media stream on Beast: accept, read loop, fan-out to backend links, replies back.
// Everything of one call runs on the loop its socket was accepted onto: no locks on the path.

#include "proxy/media/call_session.h"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <spdlog/spdlog.h>

#include <deque>
#include <optional>
#include <utility>

#include "audio/shape_converter.h"
#include "core/fault_injection.h"
#include "core/log_limit.h"
#include "core/log_text.h"
#include "core/random_hex.h"
#include "net/asio_names.h"
#include "net/delayed_acks.h"
#include "net/handler_memory.h"
#include "net/raw_websocket.h"
#include "net/write_queue.h"
#include "proxy/media/audio_feeds.h"
#include "proxy/media/backend_link.h"
#include "proxy/media/frame_text.h"
#include "proxy/media/recording.h"
#include "twilio/backend_protocol.h"
#include "twilio/base64.h"
#include "twilio/call_control.h"
#include "twilio/media_message.h"
#include "twilio/media_scan.h"
#include "twilio/percent_encoding.h"
#include "twilio/stream_token.h"

namespace callproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;

FrameText share(std::string_view text) { return FrameText::copy_of(text); }

// The audio in `bytes` of mu-law: 8000 bytes per second, 125 us per byte.
std::chrono::microseconds audio_of(std::size_t bytes) { return std::chrono::microseconds(bytes * 125); }

// One scanner per event loop thread, sized for the largest message a stream may send (its
// buffers are a few hundred KiB: per loop, never per call).
twilio::MediaScanner& loop_scanner(std::size_t max_message_bytes) {
  thread_local std::unique_ptr<twilio::MediaScanner> scanner;
  thread_local std::size_t sized_for = 0;
  if (!scanner || sized_for < max_message_bytes) {
    scanner = std::make_unique<twilio::MediaScanner>(max_message_bytes);
    sized_for = max_message_bytes;
  }
  return *scanner;
}

// What a log line keeps of a SID (Twilio's are 34 characters; the label is in every line of a call).
constexpr std::size_t max_logged_sid_bytes = 64;

// Log lines a peer can cause, each limited per call (core/log_limit.h).
enum class PeerLog : std::size_t {
  malformed,
  bad_payload,
  too_large,
  binary,
  before_start,
  unhandled,
  backend_malformed,
  reply_on_fork,
  reply_invalid,
  second_start,
  decision,
  count
};

// What a stream that passed its start's checks is admitted to: its backends, what each gets first,
// and the Studio execution it marks connected.
struct Admission {
  std::vector<BackendTarget> targets;
  twilio::StartMessage start;  // what each backend's start is written from, in its shape
  FrameText start_text;        // Twilio's own start, as it came
  std::string execution_id;
};

// A message held for the backends while the stream's token is claimed: for every backend, or
// (media) for those of one feed.
struct HeldFrame {
  OutboundFrame frame;
  std::optional<std::size_t> feed;
};

// A stream token that passed its checks, to claim once the rest of the start has been checked:
// its id (empty when serve takes no tokens) and how long the claim must last.
struct TokenClaim {
  std::string token_id;
  std::chrono::milliseconds ttl{};
};

// One call from Twilio, over `Ws`: our own framing on a plain connection
// (net::RawWebSocket), or Beast's stream over TLS.
template <class Ws>
class CallSession : public std::enable_shared_from_this<CallSession<Ws>> {
  using std::enable_shared_from_this<CallSession<Ws>>::shared_from_this;
  using std::enable_shared_from_this<CallSession<Ws>>::weak_from_this;
  static constexpr bool raw = std::is_same_v<Ws, net::RawWebSocket>;

 public:
  template <class Stream>
  CallSession(Stream&& stream, CallContext& context, std::shared_ptr<void> held)
      : held_(std::move(held)),
        ws_(std::forward<Stream>(stream)),
        context_(context),
        settings_(context.options.load()),
        options_(*settings_),
        loop_(static_cast<asio::io_context&>(asio::query(ws_.get_executor(), asio::execution::context))),
        metrics_(context.metrics.for_loop(&loop_)),
        refresh_timer_(loop_),
        start_timer_(loop_),
        idle_timer_(loop_) {}

  // Whatever way the session goes, an exception out of one of its handlers included, a call that
  // was counted leaves the registry and the gauge, clears its mark and tells its backends it is
  // over. (When the server itself is going away with its loops, there is nobody left to tell.)
  ~CallSession() {
    if (ended_ || !counted_) return;
    if (context_.closing.load()) {
      metrics_.active_calls.add(-1);
      return;  // membership_ leaves the registry by itself
    }
    try {
      end("ended by an unexpected error");
    } catch (const std::exception& e) {
      spdlog::error("call {}: cleanup after an unexpected error failed: {}", label_, e.what());
    } catch (...) {
      spdlog::error("call {}: cleanup after an unexpected error failed", label_);
    }
  }
  CallSession(const CallSession&) = delete;
  CallSession& operator=(const CallSession&) = delete;

  void run(http::request<http::string_body> request) {
    // A client that is not Twilio may carry its stream token in the handshake's query instead.
    if (!options_.stream_token_secret.empty()) {
      const std::string_view target = request.target();
      if (const auto q = target.find('?'); q != std::string_view::npos) {
        for (auto& [key, value] : twilio::parse_form(target.substr(q + 1))) {
          if (key == "token") handshake_token_ = std::move(value);
        }
      }
    }
    if constexpr (raw) {
      ws_.control_callback([this] { ++heard_; });
      std::string headers = "Server: callproxy\r\n";
      if (const auto id = request["X-Request-Id"]; !id.empty()) {
        headers += "X-Request-Id: " + std::string(id) + "\r\n";
      }
      ws_.response_headers(std::move(headers));
      ws_.read_message_max(options_.max_message_bytes);
      ws_.max_control_frames(options_.max_control_frames);
      ws_.max_message_fragments(options_.max_message_fragments);
      ws_.hold_until_closed(held_);
      ws_.read_padding(twilio::scan_padding);
      ws_.async_accept(request, beast::bind_front_handler(&CallSession::on_accept, shared_from_this()));
    } else {
      accept_with_beast(request);
    }
  }

  void accept_with_beast(const http::request<http::string_body>& request) {
    // The handshake and the close keep Beast's timeouts; idleness is watched by watch_idle().
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.idle_timeout = websocket::stream_base::none();
    ws_.set_option(timeouts);
    // A pong (or a ping) is a sign of life too; control frames are read inside async_read.
    ws_.control_callback([this](websocket::frame_type, beast::string_view) { ++heard_; });
    ws_.set_option(websocket::stream_base::decorator(
        [request_id = std::string(request["X-Request-Id"])](websocket::response_type& res) {
          res.set(http::field::server, "callproxy");
          if (!request_id.empty()) res.set("X-Request-Id", request_id);
        }));
    ws_.read_message_max(options_.max_message_bytes);
    ws_.async_accept(request, beast::bind_front_handler(&CallSession::on_accept, shared_from_this()));
  }

 private:
  // ---- Twilio side --------------------------------------------------------------------
  void on_accept(error_code ec) {
    if (ec) {
      spdlog::debug("media: WebSocket handshake failed: {}", ec.message());
      return;
    }
    metrics_.active_calls.add(1);
    metrics_.calls_total.add();
    counted_ = true;
    std::weak_ptr<CallSession> weak = shared_from_this();
    membership_ = context_.registry.join([weak, &loop = loop_](bool hand_over) {
      asio::post(loop, [weak, hand_over] {
        auto self = weak.lock();
        if (!self) return;
        if (hand_over) return self->hand_over();
        self->close_twilio(websocket::close_code::going_away, "server shutting down");
      });
    });
    label_ = "(before start)";
    watch_idle();
    // A stream that never starts holds a socket and a registry entry: it gets a deadline.
    start_timer_.expires_after(options_.start_timeout);
    start_timer_.async_wait([weak = weak_from_this()](error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->started_ || self->ended_) return;
      self->metrics_.streams_refused[StreamRefusal::no_start].add();
      spdlog::warn("call {}: no 'start' within {} ms: closing the stream (1008)", self->label_,
                   self->options_.start_timeout.count());
      self->close_twilio(websocket::close_code::policy_error, "no start message");
    });
    do_read();
  }

  // The kernel leaves delayed-ACK mode when a delayed ACK's timer fires: after a pause in the
  // stream, which is worth undoing, or at every frame of a sender that waits for each ACK before
  // it sends again (Nagle's algorithm on), which a delayed ACK would hold up to the timer (40 ms or
  // more) once per renewal. Renewed each tick, unless the mode was found lost at two ticks in a
  // row: then the sender is taken to be of the second kind and every frame is acknowledged at once
  // for the rest of the call (what costs serve CPU, never the caller latency).
  void renew_delayed_acks() {
    const int fd = lowest_socket().native_handle();
    if (!net::acks_at_once(fd)) {
      delayed_acks_lost_ = 0;
      return;
    }
    if (++delayed_acks_lost_ < 2) {
      net::prefer_delayed_acks(fd);
    } else if (delayed_acks_lost_ == 2) {
      spdlog::debug("call {}: delayed ACKs off for the rest of the call (the sender waits for each ACK)", label_);
    }
  }

  // A stream that went silent is gone and must not keep its execution "connected" or its backends
  // open. Each half period: if nothing was heard since the last tick, ping; if nothing was heard
  // after the ping either, drop the connection (the pending read then ends the call).
  void watch_idle() {
    idle_timer_.expires_after(options_.stream_idle_timeout / 2);
    idle_timer_.async_wait([weak = weak_from_this()](error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->ended_) return;
      if (self->heard_ != self->heard_at_tick_) {
        self->heard_at_tick_ = self->heard_;
        self->pinged_ = false;
        if (self->started_) self->renew_delayed_acks();
      } else if (!self->pinged_ && !self->closing_) {
        self->pinged_ = true;
        // One ping at a time (Beast's rule): one still waiting behind a write counts as sent.
        if (!self->ping_in_flight_) {
          self->ping_in_flight_ = true;
          self->ws_.async_ping({}, [self](error_code) { self->ping_in_flight_ = false; });
        }
      } else {
        self->idle_out_ = true;
        error_code ignored;
        self->lowest_socket().close(ignored);
        return;
      }
      self->watch_idle();
    });
  }

  // A line a peer's behaviour caused: written unless this call wrote one for `reason` lately.
  template <class... Args>
  void peer_warn(PeerLog reason, fmt::format_string<Args...> format, Args&&... args) {
    const auto suppressed = log_limit_.allow(reason);
    if (!suppressed) return;
    const auto text = fmt::format(format, std::forward<Args>(args)...);
    if (*suppressed == 0) {
      spdlog::warn("call {}: {}", label_, text);
    } else {
      spdlog::warn("call {}: {} ({} more like it since the last line)", label_, text, *suppressed);
    }
  }

  // Per frame: its memory comes from the loop's handler pool (net/handler_memory.h).
  void do_read() {
    if constexpr (raw) {
      ws_.async_read(asio::bind_allocator(net::HandlerAllocator<void>{},
                                          beast::bind_front_handler(&CallSession::on_read, shared_from_this())));
    } else {
      ws_.async_read(buffer_,
                     asio::bind_allocator(net::HandlerAllocator<void>{},
                                          beast::bind_front_handler(&CallSession::on_read, shared_from_this())));
    }
  }

  void on_read(error_code ec, std::size_t bytes) {
    if (ec) {
      if (ec == websocket::error::message_too_big) {
        metrics_.oversized_messages.add();
        spdlog::warn("call {}: message over {} bytes: stream closed (1009)", label_, options_.max_message_bytes);
        return end("message too big");
      }
      if (ec.category() == net::read_limit_category()) {
        metrics_.flood_closes[ParseSource::twilio].add();
        spdlog::warn("call {}: {}: stream closed ({})", label_, ec.message(),
                     ec == net::ReadLimit::control_frames ? 1008 : 1009);
        return end(ec.message());
      }
      if (idle_out_) {
        return end("stream lost: nothing from Twilio for " + std::to_string(options_.stream_idle_timeout.count()) +
                   " ms");
      }
      return end(ec == websocket::error::closed ? "Twilio closed the stream" : "stream lost: " + ec.message());
    }
    ++heard_;
    metrics_.bytes_in.add(bytes);
    if (!ws_.got_text()) {
      metrics_.binary_frames_ignored.add();
      peer_warn(PeerLog::binary, "ignoring a binary frame ({} bytes): Twilio sends text", bytes);
    } else if constexpr (raw) {
      // Where it was read, unmasked in place; the reader keeps scan_padding readable bytes after it.
      const auto message = ws_.message();
      on_message(message.data(), message.size(), ws_.message_capacity());
    } else {
      // The scanner may read scan_padding bytes past the message: they must be the buffer's. The
      // buffer is emptied after every message, so its data starts at its storage and the rest of
      // its capacity follows the message. Grows rarely (to the largest message plus padding).
      if (buffer_.capacity() - buffer_.size() < twilio::scan_padding) {
        buffer_.reserve(buffer_.size() + twilio::scan_padding);
      }
      const auto data = buffer_.cdata();
      on_message(static_cast<const char*>(data.data()), data.size(), buffer_.capacity());
    }
    if constexpr (!raw) buffer_.consume(buffer_.size());
    if (!ended_) do_read();
  }

  void on_message(const char* data, std::size_t size, std::size_t capacity) {
    const auto received = Clock::now();
    const std::string_view text(data, size);
    // The fast path: media messages, recognised and validated where they were read.
    const auto scan = loop_scanner(options_.max_message_bytes).scan(data, size, capacity, options_.max_frame_bytes);
    switch (scan.outcome) {
      case twilio::MediaScanner::Outcome::media: return on_media(scan.payload, scan.check.bytes, text, received);
      case twilio::MediaScanner::Outcome::dropped: return drop_media(*scan.check.drop, scan.check.bytes);
      case twilio::MediaScanner::Outcome::other: break;
    }
    // Everything else (and media messages in shapes the scanner does not vouch for): a full parse.
    auto parsed = twilio::parse_twilio_message(text);
    if (!parsed) {
      metrics_.parse_errors[ParseSource::twilio].add();
      peer_warn(PeerLog::malformed, "ignoring a malformed message from Twilio: {}", parsed.error());
      return;
    }
    auto& message = parsed.value();
    if (auto* media = std::get_if<twilio::MediaMessage>(&message)) {
      const auto check = twilio::check_media_payload(media->payload, options_.max_frame_bytes);
      if (check.drop) return drop_media(*check.drop, check.bytes);
      return on_media(media->payload, check.bytes, text, received);
    }
    if (auto* start = std::get_if<twilio::StartMessage>(&message)) return on_start(*start, text);
    if (std::holds_alternative<twilio::ConnectedMessage>(message)) {
      connected_text_ = share(text);
      return;
    }
    if (!started_) {
      peer_warn(PeerLog::before_start, "ignoring '{}' before 'start'", twilio::event_name(message));
      return;
    }
    if (auto* dtmf = std::get_if<twilio::DtmfMessage>(&message)) {
      return to_all(passthrough() ? share(text) : share(twilio::write_simple_dtmf(dtmf->digit)));
    }
    if (auto* mark = std::get_if<twilio::MarkMessage>(&message)) {
      // Marks echo what the primary sent: only it wants them back.
      if (primary_ && !primary_->closed()) {
        primary_->send(
            OutboundFrame{passthrough() ? share(text) : share(twilio::write_simple_mark(mark->name)), {}, received});
      }
      return;
    }
    if (std::holds_alternative<twilio::StopMessage>(message)) {
      spdlog::info("call {}: stop received", label_);
      send_stop(passthrough() ? share(text) : share(twilio::write_simple_stop()));
      return;
    }
    // An event we do not know: Twilio adds events; a passthrough backend still sees it.
    spdlog::debug("call {}: event '{}' not handled", label_, twilio::event_name(message));
    if (passthrough()) to_all(share(text));
  }

  // A media message whose payload is valid: `bytes` of mu-law, the message `text` as read.
  void on_media(std::string_view payload, std::size_t bytes, std::string_view text, Clock::time_point received) {
    metrics_.frames_in.add();
    if (!started_) {
      metrics_.frames_dropped[DropReason::before_start].add();
      peer_warn(PeerLog::before_start, "media before 'start' ignored");
      return;
    }
    if (stop_sent_) return;
    // Written once into a pooled text that every backend's queue shares: passthrough forwards
    // Twilio's own bytes (validated above), the simple format splices the validated payload.
    feeds_.on_media(payload, text);
    for (std::size_t feed = 0; feed < feeds_.size(); ++feed) {
      if (!feeds_.used(feed)) continue;  // no backend takes it: never written
      const auto messages = feeds_.frames(feed);
      for (std::size_t m = 0; m < messages.size(); ++m) {
        // The audio time is the caller's frame's, counted once (tracks=both sends two messages).
        to_feed(feed, OutboundFrame{messages[m], m == 0 ? audio_of(bytes) : std::chrono::microseconds(0), received,
                                    feeds_.binary(feed)});
      }
    }
  }

  void drop_media(twilio::MediaDrop reason, std::size_t bytes) {
    metrics_.frames_in.add();
    if (reason == twilio::MediaDrop::too_large) {
      metrics_.frames_dropped[DropReason::frame_too_large].add();
      peer_warn(PeerLog::too_large, "media frame of {} bytes dropped: over --max-frame-bytes ({})", bytes,
                options_.max_frame_bytes);
    } else {
      metrics_.frames_dropped[DropReason::invalid_payload].add();
      peer_warn(PeerLog::bad_payload, "media frame dropped: {}", twilio::describe(reason));
    }
  }

  // A 'start' is checked, then admitted: the stream token (when serve takes them) before anything
  // else, then the backends it names; a check that fails closes the stream before any backend is
  // connected. An admitted stream gets its backends once its token is claimed (claim_token).
  void on_start(const twilio::StartMessage& start, std::string_view text) {
    if (started_) {
      peer_warn(PeerLog::second_start, "second 'start' ignored");
      return;
    }
    begin_stream(start);
    const auto claim = check_stream_token(start);
    if (!claim) return;  // refused: the stream is closing
    auto targets = usable_backends(backend_entries(start));
    if (!targets) return;  // refused: the stream is closing

    Admission admission;
    admission.targets = std::move(*targets);
    admission.start = start;
    admission.start_text = share(text);
    for (const auto& target : admission.targets) feeds_.use(feeds_.feed_for(target.shape));
    fork_ = stream_is_fork(start);
    if (const auto it = start.custom_parameters.find("executionId");
        it != start.custom_parameters.end() && !it->second.empty()) {
      admission.execution_id = it->second;
    }

    if (claim->token_id.empty()) return admit(std::move(admission));
    claim_token(claim->token_id, claim->ttl, std::move(admission));
  }

  // The stream has started: its socket set for one-way traffic, its log lines labelled with its SIDs.
  void begin_stream(const twilio::StartMessage& start) {
    started_ = true;
    start_timer_.cancel();
    // From here on the stream is one-way: one ACK per two frames, not one each (net/delayed_acks.h).
    net::prefer_delayed_acks(lowest_socket().native_handle());
    stream_sid_ = start.stream_sid;
    // Twilio's SIDs are 34 characters; the label is in every line of the call, so a sender's
    // longer ones are cut.
    label_ = logged_text(start.stream_sid, max_logged_sid_bytes) + " (" +
             (start.call_sid.empty() ? "no callSid" : logged_text(start.call_sid, max_logged_sid_bytes)) + ")";
  }

  // Before anything is connected: the token says this call may stream to these backends. Nothing
  // when it does not (the stream is closed, 1008); the token to claim when it does (none when
  // serve takes no tokens).
  std::optional<TokenClaim> check_stream_token(const twilio::StartMessage& start) {
    if (options_.stream_token_secret.empty()) return TokenClaim{};
    const auto hosts_param = start.custom_parameters.find("backendHosts");
    const auto token_param = start.custom_parameters.find("streamToken");
    const std::string_view token = token_param != start.custom_parameters.end() ? std::string_view(token_param->second)
                                                                                : handshake_token_;
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const auto verdict = twilio::check_stream_token(
        options_.stream_token_secret, token, start.call_sid,
        hosts_param != start.custom_parameters.end() ? std::string_view(hosts_param->second) : std::string_view(), now);
    if (verdict != twilio::StreamTokenVerdict::valid) {
      metrics_.streams_refused[StreamRefusal::stream_token].add();
      const std::string reason(twilio::describe(verdict));
      spdlog::warn("call {}: {}: closing the stream (1008) before connecting any backend", label_, reason);
      close_twilio(websocket::close_code::policy_error, reason);
      return std::nullopt;
    }
    return TokenClaim{twilio::stream_token_id(token), std::chrono::seconds(twilio::stream_token_expiry(token) - now) +
                                                          options_.stream_token_clock_skew};
  }

  // The backends the start names (backendHosts), else serve's defaults (`operators`: the
  // operator's own entries, not the call's); none when it names them wrongly.
  struct BackendEntries {
    std::vector<std::string> entries;
    bool operators = true;
  };
  BackendEntries backend_entries(const twilio::StartMessage& start) {
    BackendEntries chosen{options_.default_backends, true};
    if (const auto it = start.custom_parameters.find("backendHosts"); it != start.custom_parameters.end()) {
      auto hosts = parse_backend_hosts(it->second);
      if (!hosts) {
        metrics_.backends_refused[RefusedBackend::invalid].add();
        spdlog::warn("call {}: {}", label_, hosts.error());
        chosen.entries.clear();
      } else if (!hosts.value().empty()) {
        chosen = {std::move(hosts.value()), false};
      }
    }
    return chosen;
  }

  // The entries that parse and --backend-allow allows (each refused one counted and logged).
  // Nothing when there are too many entries or none is usable: the stream is closed (1008).
  std::optional<std::vector<BackendTarget>> usable_backends(const BackendEntries& chosen) {
    const auto& entries = chosen.entries;
    if (entries.size() > options_.max_backends_per_call) {
      metrics_.streams_refused[StreamRefusal::too_many_backends].add();
      spdlog::warn("call {}: start names {} backends, more than --max-backends-per-call ({}): closing the stream",
                   label_, entries.size(), options_.max_backends_per_call);
      close_twilio(websocket::close_code::policy_error, "too many backends");
      return std::nullopt;
    }
    std::vector<BackendTarget> targets;
    for (const auto& entry : entries) {
      auto target = parse_backend(entry);
      if (!target) {
        metrics_.backends_refused[RefusedBackend::invalid].add();
        spdlog::warn("call {}: {}", label_, target.error());
        continue;
      }
      if (target.value().record) {
        // The recorder reaches no network: no allowlist, but somewhere to write.
        if (!context_.recorder) {
          metrics_.backends_refused[RefusedBackend::invalid].add();
          spdlog::warn("call {}: backend {} refused: serve has no --record-dir", label_, target.value().name());
          continue;
        }
        targets.push_back(std::move(target.value()));
        continue;
      }
      if (!target.value().socket_path.empty()) {
        // A socket on this machine: serve's own --backend entries may name any; a call only one
        // below a unix: folder of --backend-allow (even one that names a --backend's socket).
        if (!chosen.operators && !options_.backend_allowlist.allows_socket(target.value().socket_path)) {
          metrics_.backends_refused[RefusedBackend::not_allowed].add();
          spdlog::warn("call {}: backend {} refused: a Unix socket needs a unix: folder in --backend-allow", label_,
                       target.value().name());
          continue;
        }
        targets.push_back(std::move(target.value()));
        continue;
      }
      if (!options_.backend_allowlist.may_allow(target.value().host, target.value().port)) {
        metrics_.backends_refused[RefusedBackend::not_allowed].add();
        spdlog::warn("call {}: backend {} refused: not in --backend-allow", label_, target.value().name());
        continue;
      }
      targets.push_back(std::move(target.value()));
    }
    if (targets.empty()) {
      metrics_.streams_refused[StreamRefusal::no_backend].add();
      spdlog::warn("call {}: no usable backend: closing the stream", label_);
      close_twilio(websocket::close_code::policy_error, "no backend for this call");
      return std::nullopt;
    }
    return targets;
  }

  // What a backend of `feed` gets first: passthrough, Twilio's 'connected' and 'start' (as they
  // came, for Twilio's own shape); the simple format, the start in its own words. A start in
  // another shape names it in mediaFormat, and only Twilio's own text keeps the stream token.
  std::vector<FrameText> start_preamble(std::size_t feed, const Admission& admission) {
    std::vector<FrameText> preamble;
    if (passthrough()) {
      preamble.push_back(connected_text_ ? connected_text_
                                         : share(twilio::serialize(twilio::TwilioMessage{twilio::ConnectedMessage{}})));
    }
    preamble.push_back(feeds_.start_for(feed, admission.start, admission.start_text.text()));
    return preamble;
  }

  // Whether the stream is one-way (fork) or two-way (connect): the start's streamMode, else
  // --stream-mode.
  bool stream_is_fork(const twilio::StartMessage& start) const {
    const bool fork = options_.stream_mode == StreamMode::fork;
    const auto it = start.custom_parameters.find("streamMode");
    if (it == start.custom_parameters.end()) return fork;
    if (it->second == "fork" || it->second == "connect") return it->second == "fork";
    spdlog::warn("call {}: streamMode '{}' is neither connect nor fork: using {}", label_, it->second.substr(0, 32),
                 fork ? "fork" : "connect");
    return fork;
  }

  // ---- the stream token's single use --------------------------------------------------
  // A token serves one stream: it is claimed in the state store, last of the start's checks and
  // before any backend is connected, so a token a stream has used (here, or on an instance sharing
  // the store) is refused as an invalid one is. The store answers on its own thread and the answer
  // comes back to this loop, which waits for nothing meanwhile: what Twilio sends in between is
  // held (bounded as a backend's queue is) and goes to the backends once they exist. A store that
  // cannot answer refuses the stream: as with a PIN that cannot be checked, nobody gets in on a
  // check that was not made.
  void claim_token(const std::string& token_id, std::chrono::milliseconds ttl, Admission admission) {
    claiming_ = true;
    admission_ = std::move(admission);
    context_.store.claim_stream_token(token_id, ttl,
                                      [weak = weak_from_this(), &loop = loop_](StoreResult<bool> claimed) mutable {
                                        asio::post(loop, [weak, claimed = std::move(claimed)]() mutable {
                                          if (auto self = weak.lock()) self->on_token_claimed(std::move(claimed));
                                        });
                                      });
  }

  void on_token_claimed(StoreResult<bool> claimed) {
    claiming_ = false;
    auto admission = std::move(*admission_);
    admission_.reset();
    if (ended_ || closing_) {  // the stream went meanwhile: nobody is connected for it
      held_frames_.clear();
      return;
    }
    if (!claimed) {
      held_frames_.clear();
      spdlog::warn("call {}: the stream token cannot be checked ({}): closing the stream (1013) before connecting any "
                   "backend",
                   label_, claimed.error());
      return close_twilio(websocket::close_code::try_again_later, "stream token cannot be checked");
    }
    if (!claimed.value()) {
      held_frames_.clear();
      metrics_.streams_refused[StreamRefusal::stream_token].add();
      spdlog::warn("call {}: stream token already used: closing the stream (1008) before connecting any backend",
                   label_);
      return close_twilio(websocket::close_code::policy_error, "stream token already used");
    }
    admit(std::move(admission));
  }

  // The stream may go to its backends: they are connected, each given the start and then what
  // was held while the token was claimed.
  void admit(Admission admission) {
    const auto count = admission.targets.size();
    spdlog::info("call {}: started, {} backend{}", label_, count, count == 1 ? "" : "s");
    std::weak_ptr<CallSession> weak = shared_from_this();
    std::vector<std::vector<FrameText>> preambles(feeds_.size());  // each feed's, written once
    for (auto& target : admission.targets) {
      const auto feed = feeds_.feed_for(target.shape);
      if (preambles[feed].empty()) preambles[feed] = start_preamble(feed, admission);
      if (feed != 0 && !target.record) {
        spdlog::info("call {}: backend {} gets {}", label_, target.name(), target.shape.describe());
      }
      if (target.record) {
        links_.push_back(start_recorder_link(RecorderConfig{std::move(target), label_, admission.start.call_sid,
                                                            admission.start.stream_sid, context_.recorder, &metrics_}));
        link_feeds_.push_back(feed);
        continue;
      }
      BackendLinkConfig config{std::move(target),     label_, preambles[feed], settings_, &metrics_,
                               &context_.backend_tls, held_};
      BackendLink::Events events{[weak](BackendLink& link, std::string_view message, bool binary) {
                                   if (auto self = weak.lock()) self->on_backend_message(link, message, binary);
                                 },
                                 [weak](BackendLink& link, std::string_view reason) {
                                   if (auto self = weak.lock()) self->on_backend_closed(link, reason);
                                 }};
      links_.push_back(start_backend_link(loop_, std::move(config), std::move(events)));
      link_feeds_.push_back(feed);
    }
    // The primary is the first backend that can answer: a recorder never does.
    for (std::size_t i = 0; options_.replies == ReplyPolicy::first && i < links_.size(); ++i) {
      if (links_[i]->target().record) continue;
      primary_ = links_[i].get();
      primary_feed_ = link_feeds_[i];
      const auto& shape = feeds_.shape(primary_feed_);
      if (!shape.is_default()) from_primary_.emplace(shape);
      break;
    }
    links_ready_ = true;
    if (std::all_of(links_.begin(), links_.end(), [](const auto& l) { return l->closed(); })) {
      held_frames_.clear();
      return close_twilio(websocket::close_code::try_again_later, "no backend left");
    }
    for (const auto& held : std::exchange(held_frames_, {})) {
      if (held.feed) {
        to_feed(*held.feed, held.frame);
      } else {
        to_backends(held.frame);
      }
    }
    held_bytes_ = 0;
    if (stop_sent_) {
      for (auto& link : links_) link->finish();
    }

    call_sid_ = admission.start.call_sid;
    if (!call_sid_.empty() && !fork_) {
      // A newer two-way stream for this call replaces this one (a call has one <Connect> at a
      // time: Twilio is done with it). Forks (<Start><Stream>, a recorder's or an analyser's) may
      // run beside it, and are never replaced.
      membership_.carry(call_sid_, [weak, &loop = loop_] {
        asio::post(loop, [weak] {
          auto self = weak.lock();
          if (!self || self->ended_ || self->closing_) return;
          self->metrics_.streams_replaced.add();
          spdlog::info("call {}: a newer stream started for this call: this one ends", self->label_);
          self->close_twilio(websocket::close_code::normal, "replaced by a newer stream for this call");
        });
      });
    }
    if (!admission.execution_id.empty()) {
      execution_id_ = std::move(admission.execution_id);
      mark_owner_ = random_hex(32);  // unique to this stream, across instances too
      refresh_execution(MarkUpdate::claim);
    }
    testing::fault_point(testing::FaultPoint::call_started);
  }

  // ---- the executions "connected" mark ------------------------------------------------
  // The stream claims the mark when it starts and refreshes it while it lives; it clears it
  // when it ends, unless another stream has claimed it since (StateStore::mark_connected).
  void refresh_execution(MarkUpdate update) {
    context_.store.mark_connected(
        execution_id_, mark_owner_, update, options_.execution_ttl, [label = label_](StoreResult<Done> r) {
          if (!r) spdlog::warn("call {}: cannot mark the execution connected: {}", label, r.error());
        });
    refresh_timer_.expires_after(options_.execution_refresh);
    refresh_timer_.async_wait([weak = weak_from_this()](error_code ec) {
      if (auto self = weak.lock(); self && !ec && !self->ended_) self->refresh_execution(MarkUpdate::refresh);
    });
  }

  // ---- backends -----------------------------------------------------------------------
  bool passthrough() const { return options_.backend_format == BackendFormat::twilio; }

  void to_all(const FrameText& text) { to_backends(OutboundFrame{text, {}, Clock::now()}); }

  // What goes to every backend; while the token is claimed (no backend exists yet), held.
  void to_backends(const OutboundFrame& frame) {
    if (claiming_) return hold(frame, std::nullopt);
    for (auto& link : links_) {
      if (!link->closed()) link->send(frame);
    }
  }

  // A media frame to the backends of one feed (audio_feeds.h).
  void to_feed(std::size_t feed, const OutboundFrame& frame) {
    if (claiming_) return hold(frame, feed);
    for (std::size_t i = 0; i < links_.size(); ++i) {
      if (link_feeds_[i] == feed && !links_[i]->closed()) links_[i]->send(frame);
    }
  }

  // At most --max-backend-queue-bytes wait, as behind a backend; past it a frame is dropped.
  void hold(const OutboundFrame& frame, std::optional<std::size_t> feed) {
    if (held_bytes_ + frame.text.size() > options_.max_backend_queue_bytes) {
      metrics_.frames_dropped[DropReason::backend_lag].add();
      return;
    }
    held_bytes_ += frame.text.size();
    held_frames_.push_back(HeldFrame{frame, feed});
  }

  // `stop`: the stop in the backends' format.
  void send_stop(const FrameText& stop) {
    if (stop_sent_) return;
    stop_sent_ = true;
    if (claiming_) {
      // Past the bound too: backends that come to exist must hear that the call is over.
      held_frames_.push_back(HeldFrame{OutboundFrame{stop, {}, Clock::now()}, std::nullopt});
      return;
    }
    to_all(stop);
    for (auto& link : links_) link->finish();
  }

  void on_backend_message(BackendLink& link, std::string_view text, bool binary) {
    if (&link != primary_ || ended_) {
      metrics_.replies_ignored.add();
      return;
    }
    // A primary that takes binary frames answers in them too: raw audio of its shape. (JSON in a
    // binary frame, as the Node service's backends sent it, still reads as JSON: read once.)
    const bool audio_frames = binary && feeds_.binary(primary_feed_);
    const bool looks_json = text.size() > 1 && text.front() == '{' && text.back() == '}';
    std::optional<twilio::ReplyMessage> parsed_reply;
    if (!audio_frames || looks_json) {
      auto parsed = twilio::read_backend_reply(text);
      if (parsed) {
        parsed_reply = std::move(parsed.value());
      } else if (!audio_frames) {
        metrics_.parse_errors[ParseSource::backend].add();
        peer_warn(PeerLog::backend_malformed, "ignoring a malformed message from backend {}: {}", link.target().name(),
                  parsed.error());
        return;
      }
    }
    const bool binary_audio = !parsed_reply;  // raw audio: only from a binary-frames primary
    if (parsed_reply && std::holds_alternative<twilio::UnknownMessage>(*parsed_reply)) {
      // The bot steering the call (on either kind of stream: a Studio flow acts on it too).
      auto control = twilio::read_call_control(text);
      if (!control) {
        metrics_.decisions_refused[DecisionRefusal::invalid].add();
        peer_warn(PeerLog::decision, "control message from backend {} refused: {}", link.target().name(),
                  control.error());
        return;
      }
      if (control.value()) return on_decision(link, std::move(*control.value()));
      metrics_.replies_ignored.add();
      return;
    }
    if (fork_) {
      // A one-way stream: Twilio plays nothing sent back on it.
      metrics_.replies_on_fork.add();
      peer_warn(PeerLog::reply_on_fork, "backend {} sends replies on a one-way (fork) stream: dropped",
                link.target().name());
      return;
    }
    if (binary_audio) {
      return relay_audio(link, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
    }
    auto& reply = *parsed_reply;
    // What goes to Twilio is checked as what comes from it is.
    if (const auto* media = std::get_if<twilio::ReplyMedia>(&reply)) {
      const auto check = twilio::check_media_payload(media->payload, reply_limit());
      if (check.drop) {
        metrics_.replies_invalid.add();
        peer_warn(PeerLog::reply_invalid, "reply from backend {} dropped: {}", link.target().name(),
                  twilio::describe(*check.drop));
        return;
      }
      if (from_primary_ || feeds_.hears_replies()) {
        twilio::base64_decode_into(media->payload, reply_bytes_);  // checked: cannot fail
        if (from_primary_) return relay_audio(link, reply_bytes_);
      }
    } else if (const auto* mark = std::get_if<twilio::ReplyMark>(&reply);
               mark && (mark->name.empty() || mark->name.size() > options_.max_mark_name_bytes)) {
      metrics_.replies_invalid.add();
      peer_warn(PeerLog::reply_invalid, "reply from backend {} dropped: a mark name of {} bytes (1..{} allowed)",
                link.target().name(), mark->name.size(), options_.max_mark_name_bytes);
      return;
    }
    // Always the call's own streamSid, whatever the backend wrote.
    std::visit(
        [this](auto& r) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(r)>, twilio::UnknownMessage>) r.stream_sid = stream_sid_;
        },
        reply);
    if (!queue_reply(reply)) return;
    // What the primary sent before a clear is not heard: its converter starts afresh too.
    if (std::holds_alternative<twilio::ReplyClear>(reply) && from_primary_)
      from_primary_.emplace(feeds_.shape(primary_feed_));
    if (!feeds_.hears_replies()) return;
    // The backends that hear the primary's side hear what Twilio was given to play.
    if (std::holds_alternative<twilio::ReplyMedia>(reply)) feeds_.on_reply_audio(reply_bytes_);
    if (std::holds_alternative<twilio::ReplyClear>(reply)) feeds_.on_clear();
  }

  // ---- the bot's decision (twilio/call_control.h, docs/call-control.md) ----------------
  // The primary decided how the call goes on: the decision is kept in the state store under the
  // call's CallSid (any instance may answer Twilio's next request), then the stream is closed
  // (1000) and Twilio goes on with the TwiML after <Connect>, whose after-stream step acts on it.
  // One decision per stream; a refused one leaves the call as it was.
  void on_decision(BackendLink& link, twilio::CallDecision decision) {
    const auto name = twilio::decision_name(decision);
    const auto refuse = [&](DecisionRefusal reason, std::string_view why) {
      metrics_.decisions_refused[reason].add();
      peer_warn(PeerLog::decision, "'{}' from backend {} refused: {}; the call goes on", name, link.target().name(),
                why);
    };
    if (deciding_ || decided_ || closing_) return refuse(DecisionRefusal::repeated, "the stream has decided already");
    if (call_sid_.empty() || call_sid_.size() > max_logged_sid_bytes) {
      return refuse(DecisionRefusal::invalid, "the stream's start has no usable callSid");
    }
    if (const auto* transfer = std::get_if<twilio::TransferDecision>(&decision);
        transfer && !options_.transfer_allow.allows(transfer->to)) {
      return refuse(DecisionRefusal::not_allowed,
                    fmt::format("{} is not in --transfer-allow", logged_text(transfer->to, 80)));
    }
    deciding_ = true;
    spdlog::info("call {}: backend {} decided: {}", label_, link.target().name(), name);
    const auto kind = static_cast<Decision>(decision.index());
    context_.store.put_value("decision:" + call_sid_, twilio::write_call_decision(decision), options_.decision_ttl,
                             [weak = weak_from_this(), &loop = loop_, kind](StoreResult<Done> kept) mutable {
                               asio::post(loop, [weak, kept = std::move(kept), kind] {
                                 if (auto self = weak.lock()) self->on_decision_kept(kept, kind);
                               });
                             });
  }

  void on_decision_kept(const StoreResult<Done>& kept, Decision kind) {
    deciding_ = false;
    if (!kept) {
      metrics_.decisions_refused[DecisionRefusal::store_error].add();
      spdlog::warn("call {}: the decision cannot be kept ({}): the call goes on", label_, kept.error());
      if (close_after_decision_) close_twilio(websocket::close_code::try_again_later, "no backend left");
      return;
    }
    decided_ = true;
    metrics_.decisions[kind].add();
    close_twilio(websocket::close_code::normal, "the bot decided how the call goes on");
  }

  // A drain with --drain-handover: the call moves to another instance through the call flow's
  // reconnect. It is marked as handed over first (handover:<CallSid>), so that the move does not
  // count against the call's --max-reconnects nor wait as a failing bot's reconnect does. A
  // stream whose bot has decided, or a fork, just closes.
  void hand_over() {
    if (ended_ || closing_) return;
    if (!started_ || fork_ || call_sid_.empty() || deciding_ || decided_) {
      return close_twilio(websocket::close_code::going_away, "server shutting down");
    }
    context_.store.put_value("handover:" + call_sid_, "1", std::chrono::minutes(2),
                             [weak = weak_from_this(), &loop = loop_](StoreResult<Done> marked) {
                               asio::post(loop, [weak, marked = std::move(marked)] {
                                 auto self = weak.lock();
                                 if (!self) return;
                                 if (!marked) {
                                   spdlog::warn("call {}: cannot mark the call handed over ({}): it moves as a "
                                                "reconnect",
                                                self->label_, marked.error());
                                 }
                                 self->close_twilio(websocket::close_code::going_away,
                                                    "server draining: the call moves to another instance");
                               });
                             });
  }

  // The most a reply's payload may carry, decoded: --max-frame-bytes of Twilio's audio, or as
  // much audio time in the primary's shape.
  std::size_t reply_limit() const {
    if (!from_primary_) return options_.max_frame_bytes;
    // Per channel: a primary answers in mono (its shape's codec and rate).
    const auto& shape = feeds_.shape(primary_feed_);
    return options_.max_frame_bytes * shape.frame_bytes() / static_cast<std::size_t>(shape.channels()) / 160;
  }

  // Audio of the primary's shape, as Twilio takes it: 8 kHz mu-law in a media message.
  void relay_audio(BackendLink& link, std::span<const std::uint8_t> bytes) {
    if (bytes.size() > reply_limit()) {
      metrics_.replies_invalid.add();
      peer_warn(PeerLog::reply_invalid, "reply from backend {} dropped: {} bytes of audio, over the {} allowed",
                link.target().name(), bytes.size(), reply_limit());
      return;
    }
    const auto mulaw = from_primary_->convert(bytes);
    if (mulaw.empty()) return;  // not a whole sample yet: it comes with the next message
    reply_base64_.clear();
    twilio::base64_append(reply_base64_, mulaw);
    if (queue_reply(twilio::ReplyMessage{twilio::ReplyMedia{stream_sid_, reply_base64_}}) && feeds_.hears_replies()) {
      feeds_.on_reply_audio(mulaw);
    }
  }

  // False when the queue to Twilio is full (the reply is dropped and counted).
  bool queue_reply(const twilio::ReplyMessage& reply) {
    auto serialized = share(twilio::serialize(reply));
    const auto size = serialized.size();
    if (!replies_.push(std::move(serialized), size)) {
      metrics_.frames_dropped[DropReason::twilio_lag].add();
      return false;
    }
    metrics_.replies_relayed.add();
    do_write_reply();
    return true;
  }

  void on_backend_closed(BackendLink& link, std::string_view reason) {
    if (ended_ || stop_sent_ || !links_ready_) return;
    const bool any_left = std::any_of(links_.begin(), links_.end(), [](const auto& l) { return !l->closed(); });
    spdlog::info("call {}: backend {} gone ({}); {}", label_, link.target().name(), reason,
                 any_left ? "the others continue" : "no backend left");
    if (any_left) return;
    // A bot that decides, then closes its socket (as bots do): the stream closes once the decision
    // is kept, so that the after-stream step finds it.
    if (deciding_) {
      close_after_decision_ = true;
      return;
    }
    close_twilio(websocket::close_code::try_again_later, "no backend left");
  }

  // ---- replies to Twilio --------------------------------------------------------------
  void do_write_reply() {
    if (writing_ || replies_.empty() || closing_) return;
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(replies_.front().text()),
                    asio::bind_allocator(net::HandlerAllocator<void>{},
                                         [self = shared_from_this(), keep = replies_.front()](
                                             error_code ec, std::size_t) { self->on_write_reply(ec); }));
  }

  void on_write_reply(error_code ec) {
    writing_ = false;
    if (ec) return;  // the read side notices the broken stream and ends the call
    replies_.pop();
    do_write_reply();
  }

  // ---- ending -------------------------------------------------------------------------
  void close_twilio(websocket::close_code code, const std::string& reason) {
    if (closing_ || ended_) return;
    closing_ = true;
    spdlog::info("call {}: closing the stream ({})", label_, reason);
    ws_.async_close(websocket::close_reason(code, reason),
                    [self = shared_from_this(), reason](error_code) { self->end(reason); });
  }

  void end(const std::string& reason) {
    if (ended_) return;
    ended_ = true;
    if (counted_) {
      counted_ = false;
      metrics_.active_calls.add(-1);
      membership_.leave();
    }
    refresh_timer_.cancel();
    start_timer_.cancel();
    idle_timer_.cancel();
    if (!stop_sent_) {
      // Backends hear that the call is over, whatever way it ended.
      send_stop(
          share(twilio::write_backend_message(options_.backend_format, twilio::StopMessage{{}, stream_sid_, {}, {}})));
    }
    if (!execution_id_.empty()) {
      context_.store.clear_connected(execution_id_, mark_owner_, [label = label_](StoreResult<Done> r) {
        if (!r) spdlog::warn("call {}: cannot clear the execution mark: {}", label, r.error());
      });
    }
    spdlog::info("call {}: ended: {}", label_, reason);
    error_code ignored;
    lowest_socket().close(ignored);
  }

  auto& lowest_socket() {
    if constexpr (raw) {
      return ws_.socket();
    } else {
      return beast::get_lowest_layer(ws_).socket();
    }
  }

  std::shared_ptr<void> held_;  // given by whoever started the call (its places among the limits)
  Ws ws_;
  CallContext& context_;
  std::shared_ptr<const MediaOptions> settings_;  // the settings this call started with
  const MediaOptions& options_;                   // *settings_
  asio::io_context& loop_;
  Metrics& metrics_;  // this loop's shard
  asio::steady_timer refresh_timer_;
  asio::steady_timer start_timer_;
  asio::steady_timer idle_timer_;
  std::uint64_t heard_ = 0;          // messages and control frames read
  std::uint64_t heard_at_tick_ = 0;  // heard_ at the idle watch's last tick
  int delayed_acks_lost_ = 0;        // idle ticks in a row that found delayed ACKs off
  bool pinged_ = false;              // the idle watch has pinged since it last heard anything
  bool ping_in_flight_ = false;
  bool idle_out_ = false;  // the idle watch dropped the connection
  beast::flat_buffer buffer_;
  LogLimit<PeerLog> log_limit_;
  std::string label_;
  std::string stream_sid_;
  std::string execution_id_;
  std::string call_sid_;         // the start's callSid, once admitted: what a decision is kept under
  std::string handshake_token_;  // ?token= of the handshake (never logged)
  std::string mark_owner_;       // this stream's token on the execution's mark
  FrameText connected_text_;
  std::vector<std::shared_ptr<BackendLink>> links_;
  std::vector<std::size_t> link_feeds_;  // each link's feed
  AudioFeeds feeds_{options_.backend_format};
  std::optional<audio::FromShape> from_primary_;  // the primary's replies, when not Twilio's shape
  std::vector<std::uint8_t> reply_bytes_;         // scratch: a reply's audio, decoded
  std::string reply_base64_;                      // scratch: its mu-law, encoded
  std::optional<Admission> admission_;            // while the token is claimed: what the stream is admitted to
  std::vector<HeldFrame> held_frames_;            // meanwhile, what the backends are to get
  std::size_t held_bytes_ = 0;
  BackendLink* primary_ = nullptr;
  std::size_t primary_feed_ = 0;  // its feed: the shape its replies come in
  net::WriteQueue<FrameText> replies_{{options_.max_reply_queue, options_.max_reply_queue_bytes}};
  CallRegistry::Membership membership_;
  bool counted_ = false;  // in the registry and the active-calls gauge
  bool started_ = false;
  bool links_ready_ = false;
  bool claiming_ = false;  // the stream's token is being claimed in the state store
  bool fork_ = false;      // a one-way stream: replies are not relayed
  bool stop_sent_ = false;
  bool deciding_ = false;              // a decision is being kept in the state store
  bool decided_ = false;               // kept: the stream is closing for it
  bool close_after_decision_ = false;  // the last backend left while its decision was being kept
  bool writing_ = false;
  bool closing_ = false;
  bool ended_ = false;
};

}  // namespace

void start_call_session(net::LoopTcpStream stream, http::request<http::string_body> request, CallContext& context,
                        std::shared_ptr<void> held) {
  // The HTTP session refused every upgrade this class would not answer (handshake_refusal), so
  // this holds; were it ever not to, the connection ends here rather than on a reader untested.
  if (!net::RawWebSocket::can_accept(request)) {
    spdlog::error("media: an upgrade past the handshake checks is not one a stream can answer: connection closed");
    return;
  }
  std::make_shared<CallSession<net::RawWebSocket>>(std::move(stream), context, std::move(held))
      ->run(std::move(request));
}

void start_call_session(beast::ssl_stream<net::LoopTcpStream> stream, http::request<http::string_body> request,
                        CallContext& context, std::shared_ptr<void> held) {
  std::make_shared<CallSession<websocket::stream<beast::ssl_stream<net::LoopTcpStream>>>>(std::move(stream), context,
                                                                                          std::move(held))
      ->run(std::move(request));
}

}  // namespace callproxy::proxy
