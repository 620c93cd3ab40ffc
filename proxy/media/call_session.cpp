// A Twilio media stream on Beast: accept, read loop, fan-out to backend links, replies back.
// Everything of one call runs on the loop its socket was accepted onto: no locks on the path.

#include "proxy/media/call_session.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <spdlog/spdlog.h>

#include <deque>

#include "net/asio_names.h"
#include "net/write_queue.h"
#include "proxy/media/backend_link.h"
#include "twilio/backend_protocol.h"
#include "twilio/media_message.h"

namespace callproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;

SharedText share(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

// The audio a base64 mu-law payload carries: 8000 bytes per second, 125 us per byte.
std::chrono::microseconds audio_of(std::string_view base64) {
  std::size_t bytes = base64.size() / 4 * 3;
  if (!base64.empty() && base64.back() == '=') --bytes;
  if (base64.size() > 1 && base64[base64.size() - 2] == '=') --bytes;
  return std::chrono::microseconds(bytes * 125);
}

// One call over a plain (beast::tcp_stream) or TLS connection from Twilio.
template <class NextLayer>
class CallSession : public std::enable_shared_from_this<CallSession<NextLayer>> {
  using std::enable_shared_from_this<CallSession<NextLayer>>::shared_from_this;
  using std::enable_shared_from_this<CallSession<NextLayer>>::weak_from_this;

 public:
  CallSession(NextLayer&& stream, CallContext& context)
      : ws_(std::move(stream)),
        context_(context),
        options_(context.options),
        metrics_(context.metrics),
        loop_(static_cast<asio::io_context&>(asio::query(ws_.get_executor(), asio::execution::context))),
        refresh_timer_(loop_) {}

  void run(http::request<http::string_body> request) {
    // Twilio sends a frame every 20 ms for the whole call: a stream silent for 15 s is gone, and
    // must not keep its execution "connected" or its backends open for Beast's default 5 minutes.
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.idle_timeout = std::chrono::seconds(15);
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "callproxy"); }));
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
    registry_id_ = context_.registry.add([weak, &loop = loop_] {
      asio::post(loop, [weak] {
        if (auto self = weak.lock()) self->close_twilio(websocket::close_code::going_away, "server shutting down");
      });
    });
    label_ = "(before start)";
    do_read();
  }

  void do_read() { ws_.async_read(buffer_, beast::bind_front_handler(&CallSession::on_read, shared_from_this())); }

  void on_read(error_code ec, std::size_t bytes) {
    if (ec) {
      if (ec == websocket::error::message_too_big) {
        metrics_.oversized_messages.add();
        spdlog::warn("call {}: message over {} bytes: stream closed (1009)", label_, options_.max_message_bytes);
        return end("message too big");
      }
      return end(ec == websocket::error::closed ? "Twilio closed the stream" : "stream lost: " + ec.message());
    }
    metrics_.bytes_in.add(bytes);
    if (!ws_.got_text()) {
      metrics_.binary_frames_ignored.add();
      spdlog::warn("call {}: ignoring a binary frame ({} bytes): Twilio sends text", label_, bytes);
    } else {
      const auto data = buffer_.cdata();
      on_message(std::string_view(static_cast<const char*>(data.data()), data.size()));
    }
    buffer_.consume(buffer_.size());
    if (!ended_) do_read();
  }

  void on_message(std::string_view text) {
    const auto received = Clock::now();
    auto parsed = twilio::parse_twilio_message(text);
    if (!parsed) {
      metrics_.parse_errors[ParseSource::twilio].add();
      spdlog::warn("call {}: ignoring a malformed message from Twilio: {}", label_, parsed.error());
      return;
    }
    auto& message = parsed.value();
    if (auto* media = std::get_if<twilio::MediaMessage>(&message)) return on_media(*media, text, received);
    if (auto* start = std::get_if<twilio::StartMessage>(&message)) return on_start(*start, text);
    if (std::holds_alternative<twilio::ConnectedMessage>(message)) {
      connected_text_ = share(std::string(text));
      return;
    }
    if (!started_) {
      spdlog::warn("call {}: ignoring '{}' before 'start'", label_, twilio::event_name(message));
      return;
    }
    if (auto* dtmf = std::get_if<twilio::DtmfMessage>(&message)) {
      return to_all(share(passthrough() ? std::string(text) : twilio::write_simple_dtmf(dtmf->digit)));
    }
    if (auto* mark = std::get_if<twilio::MarkMessage>(&message)) {
      // Marks echo what the primary sent: only it wants them back.
      if (primary_ && !primary_->closed()) {
        primary_->send(OutboundFrame{
            share(passthrough() ? std::string(text) : twilio::write_simple_mark(mark->name)), {}, received});
      }
      return;
    }
    if (std::holds_alternative<twilio::StopMessage>(message)) {
      spdlog::info("call {}: stop received", label_);
      send_stop(share(passthrough() ? std::string(text) : twilio::write_simple_stop()));
      return;
    }
    // An event we do not know: Twilio adds events; a passthrough backend still sees it.
    spdlog::debug("call {}: event '{}' not handled", label_, twilio::event_name(message));
    if (passthrough()) to_all(share(std::string(text)));
  }

  void on_media(const twilio::MediaMessage& media, std::string_view text, Clock::time_point received) {
    metrics_.frames_in.add();
    if (!started_) {
      metrics_.frames_dropped[DropReason::before_start].add();
      if (!warned_before_start_) {
        warned_before_start_ = true;
        spdlog::warn("call {}: media before 'start' ignored", label_);
      }
      return;
    }
    if (stop_sent_) return;
    // One shared buffer for every backend: passthrough forwards Twilio's own frame.
    std::string frame;
    if (passthrough()) {
      frame = text;
    } else {
      twilio::write_simple_media(frame, media.payload);
    }
    const OutboundFrame outbound{share(std::move(frame)), audio_of(media.payload), received};
    for (auto& link : links_) {
      if (!link->closed()) link->send(outbound);
    }
  }

  void on_start(const twilio::StartMessage& start, std::string_view text) {
    if (started_) {
      spdlog::warn("call {}: second 'start' ignored", label_);
      return;
    }
    started_ = true;
    stream_sid_ = start.stream_sid;
    label_ = start.stream_sid + " (" + (start.call_sid.empty() ? "no callSid" : start.call_sid) + ")";

    std::vector<std::string> entries = options_.default_backends;
    if (const auto it = start.custom_parameters.find("backendHosts"); it != start.custom_parameters.end()) {
      auto hosts = parse_backend_hosts(it->second);
      if (!hosts) {
        metrics_.backends_refused[RefusedBackend::invalid].add();
        spdlog::warn("call {}: {}", label_, hosts.error());
        entries.clear();
      } else if (!hosts.value().empty()) {
        entries = std::move(hosts.value());
      }
    }

    std::vector<BackendTarget> targets;
    for (const auto& entry : entries) {
      auto target = parse_backend(entry);
      if (!target) {
        metrics_.backends_refused[RefusedBackend::invalid].add();
        spdlog::warn("call {}: {}", label_, target.error());
        continue;
      }
      if (!options_.backend_allowlist.may_allow(target.value().host, target.value().port)) {
        metrics_.backends_refused[RefusedBackend::not_allowed].add();
        spdlog::warn("call {}: backend {} refused: not in --backend-allow", label_, target.value().url());
        continue;
      }
      targets.push_back(std::move(target.value()));
    }
    if (targets.empty()) {
      spdlog::warn("call {}: no usable backend: closing the stream", label_);
      return close_twilio(websocket::close_code::policy_error, "no backend for this call");
    }

    std::vector<SharedText> preamble;
    if (passthrough()) {
      preamble.push_back(connected_text_ ? connected_text_
                                         : share(twilio::serialize(twilio::TwilioMessage{twilio::ConnectedMessage{}})));
      preamble.push_back(share(std::string(text)));
    } else {
      preamble.push_back(share(twilio::write_simple_start(start)));
    }

    spdlog::info("call {}: started, {} backend{}", label_, targets.size(), targets.size() == 1 ? "" : "s");
    std::weak_ptr<CallSession> weak = shared_from_this();
    for (auto& target : targets) {
      BackendLinkConfig config{std::move(target), label_, preamble, &options_, &metrics_, context_.backend_tls};
      BackendLink::Events events{[weak](BackendLink& link, std::string_view message) {
                                   if (auto self = weak.lock()) self->on_backend_message(link, message);
                                 },
                                 [weak](BackendLink& link, std::string_view reason) {
                                   if (auto self = weak.lock()) self->on_backend_closed(link, reason);
                                 }};
      links_.push_back(start_backend_link(loop_, std::move(config), std::move(events)));
    }
    if (options_.replies == ReplyPolicy::first) primary_ = links_.front().get();
    links_ready_ = true;
    if (std::all_of(links_.begin(), links_.end(), [](const auto& l) { return l->closed(); })) {
      return close_twilio(websocket::close_code::try_again_later, "no backend left");
    }

    if (const auto it = start.custom_parameters.find("executionId");
        it != start.custom_parameters.end() && !it->second.empty()) {
      execution_id_ = it->second;
      refresh_execution();
    }
  }

  // ---- the executions "connected" mark ------------------------------------------------
  void refresh_execution() {
    context_.store.mark_connected(execution_id_, options_.execution_ttl, [label = label_](StoreResult<Done> r) {
      if (!r) spdlog::warn("call {}: cannot mark the execution connected: {}", label, r.error());
    });
    refresh_timer_.expires_after(options_.execution_refresh);
    refresh_timer_.async_wait([weak = weak_from_this()](error_code ec) {
      if (auto self = weak.lock(); self && !ec && !self->ended_) self->refresh_execution();
    });
  }

  // ---- backends -----------------------------------------------------------------------
  bool passthrough() const { return options_.backend_format == BackendFormat::twilio; }

  void to_all(const SharedText& text) {
    const OutboundFrame frame{text, {}, Clock::now()};
    for (auto& link : links_) {
      if (!link->closed()) link->send(frame);
    }
  }

  // `stop`: the stop in the backends' format.
  void send_stop(const SharedText& stop) {
    if (stop_sent_) return;
    stop_sent_ = true;
    to_all(stop);
    for (auto& link : links_) link->finish();
  }

  void on_backend_message(BackendLink& link, std::string_view text) {
    if (&link != primary_ || ended_) {
      metrics_.replies_ignored.add();
      return;
    }
    auto parsed = twilio::read_backend_reply(text);
    if (!parsed) {
      metrics_.parse_errors[ParseSource::backend].add();
      spdlog::warn("call {}: ignoring a malformed message from backend {}: {}", label_, link.target().url(),
                   parsed.error());
      return;
    }
    auto& reply = parsed.value();
    if (std::holds_alternative<twilio::UnknownMessage>(reply)) {
      metrics_.replies_ignored.add();
      return;
    }
    // Always the call's own streamSid, whatever the backend wrote.
    std::visit(
        [this](auto& r) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(r)>, twilio::UnknownMessage>) r.stream_sid = stream_sid_;
        },
        reply);
    auto serialized = share(twilio::serialize(reply));
    if (!replies_.push(serialized, serialized->size())) {
      metrics_.frames_dropped[DropReason::twilio_lag].add();
      return;
    }
    metrics_.replies_relayed.add();
    do_write_reply();
  }

  void on_backend_closed(BackendLink& link, std::string_view reason) {
    if (ended_ || stop_sent_ || !links_ready_) return;
    const bool any_left = std::any_of(links_.begin(), links_.end(), [](const auto& l) { return !l->closed(); });
    spdlog::info("call {}: backend {} gone ({}); {}", label_, link.target().url(), reason,
                 any_left ? "the others continue" : "no backend left");
    if (!any_left) close_twilio(websocket::close_code::try_again_later, "no backend left");
  }

  // ---- replies to Twilio --------------------------------------------------------------
  void do_write_reply() {
    if (writing_ || replies_.empty() || closing_) return;
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(*replies_.front()), [self = shared_from_this(), keep = replies_.front()](
                                                         error_code ec, std::size_t) { self->on_write_reply(ec); });
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
    refresh_timer_.cancel();
    if (!stop_sent_) {
      // Backends hear that the call is over, whatever way it ended.
      send_stop(
          share(twilio::write_backend_message(options_.backend_format, twilio::StopMessage{{}, stream_sid_, {}, {}})));
    }
    if (!execution_id_.empty()) {
      context_.store.clear_connected(execution_id_, [label = label_](StoreResult<Done> r) {
        if (!r) spdlog::warn("call {}: cannot clear the execution mark: {}", label, r.error());
      });
    }
    if (counted_) {
      metrics_.active_calls.add(-1);
      context_.registry.remove(registry_id_);
    }
    spdlog::info("call {}: ended: {}", label_, reason);
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  websocket::stream<NextLayer> ws_;
  CallContext& context_;
  const MediaOptions& options_;
  Metrics& metrics_;
  asio::io_context& loop_;
  asio::steady_timer refresh_timer_;
  beast::flat_buffer buffer_;
  std::string label_;
  std::string stream_sid_;
  std::string execution_id_;
  SharedText connected_text_;
  std::vector<std::shared_ptr<BackendLink>> links_;
  BackendLink* primary_ = nullptr;
  net::WriteQueue<SharedText> replies_{{options_.max_reply_queue, options_.max_reply_queue_bytes}};
  CallRegistry::Id registry_id_ = 0;
  bool counted_ = false;
  bool started_ = false;
  bool links_ready_ = false;
  bool stop_sent_ = false;
  bool warned_before_start_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool ended_ = false;
};

}  // namespace

void start_call_session(beast::tcp_stream stream, http::request<http::string_body> request, CallContext& context) {
  std::make_shared<CallSession<beast::tcp_stream>>(std::move(stream), context)->run(std::move(request));
}

void start_call_session(beast::ssl_stream<beast::tcp_stream> stream, http::request<http::string_body> request,
                        CallContext& context) {
  std::make_shared<CallSession<beast::ssl_stream<beast::tcp_stream>>>(std::move(stream), context)
      ->run(std::move(request));
}

}  // namespace callproxy::proxy
