// client-test's calls on Beast: connect, stream paced frames exactly as Twilio does, take what
// comes back, and report. Calls share one event loop; pacing uses absolute deadlines (no drift).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "net/asio_names.h"
#include "net/client_connect.h"
#include "net/endpoint.h"
#include "net/tls_context.h"
#include "net/write_queue.h"
#include "testclient/call_flow.h"
#include "testclient/client_test_options.h"
#include "testclient/twilio_stream_writer.h"
#include "twilio/audio_file.h"
#include "twilio/base64.h"
#include "twilio/media_message.h"
#include "twilio/signature.h"

namespace callproxy::testclient {
namespace {

using Clock = std::chrono::steady_clock;

using net::Endpoint;

struct CallSummary {
  unsigned index = 0;
  bool ok = false;
  std::string error;
  std::string stream_sid;
  std::string call_sid;
  std::string execution_id;  // customParameters.executionId, when the call has one
  std::uint64_t frames_sent = 0;
  std::uint64_t replies = 0;  // media messages received
  std::uint64_t marks_echoed = 0;
  std::uint64_t clears = 0;
  std::chrono::milliseconds duration{0};
  int close_code = 0;
  std::string close_reason;
  std::vector<std::uint8_t> reply_audio;
  StreamResult::EndedBy ended_by = StreamResult::EndedBy::connection;
  std::uint64_t first_frame = 0;
  bool recording_done = false;  // every frame of the recording was sent
  bool up = false;              // the WebSocket handshake succeeded
};

// Counts every call can add to, for the live progress line.
struct LiveStats {
  unsigned calls_up = 0;
  std::uint64_t frames_sent = 0;
  unsigned errors = 0;
};

std::map<std::string, std::string> parameters_for(const ClientTestOptions& options, std::mt19937_64& random) {
  auto parameters = options.custom_parameters;
  if (options.execution_id_per_call && parameters.count("executionId") == 0)
    parameters["executionId"] = make_execution_sid(random);
  return parameters;
}

template <class Stream>
class TestCall : public std::enable_shared_from_this<TestCall<Stream>> {
 public:
  using Done = std::function<void(CallSummary)>;

  TestCall(asio::io_context& loop, asio::ssl::context* tls, const ClientTestOptions& options, Endpoint endpoint,
           unsigned index, std::mt19937_64& random, LiveStats& live, Done done)
      : TestCall(loop, tls, options, std::move(endpoint), index,
                 TwilioStreamWriter(make_call_identity(random), parameters_for(options, random)), 0, live,
                 std::move(done)) {}

  // A stream of a call flow: its ids and parameters given, the recording from `first_frame` on.
  TestCall(asio::io_context& loop, asio::ssl::context* tls, const ClientTestOptions& options, Endpoint endpoint,
           unsigned index, TwilioStreamWriter writer, std::uint64_t first_frame, LiveStats& live, Done done)
      : loop_(loop),
        options_(options),
        endpoint_(std::move(endpoint)),
        writer_(std::move(writer)),
        pace_timer_(loop),
        grace_timer_(loop),
        live_(live),
        done_(std::move(done)),
        ws_(make_stream(loop, tls)) {
    summary_.index = index;
    summary_.stream_sid = writer_.identity().stream_sid;
    summary_.call_sid = writer_.identity().call_sid;
    if (const auto it = writer_.custom_parameters().find("executionId"); it != writer_.custom_parameters().end())
      summary_.execution_id = it->second;
    total_frames_ = options.duration.count() > 0
                        ? static_cast<std::uint64_t>(options.duration.count() / TwilioStreamWriter::frame_ms)
                        : (options.audio.size() + TwilioStreamWriter::frame_bytes - 1) /
                              TwilioStreamWriter::frame_bytes;
    next_frame_ = first_frame_ = summary_.first_frame = first_frame;
    // A stream that begins later in the call (a reconnect) does not send the keys typed before.
    while (next_dtmf_ < options.dtmf.size() &&
           options.dtmf[next_dtmf_].at < std::chrono::milliseconds(first_frame * TwilioStreamWriter::frame_ms))
      ++next_dtmf_;
    const auto messages = static_cast<std::size_t>(total_frames_) * 2 + 256;  // frames, keys, start and stop
    outgoing_ = net::WriteQueue<std::string>({messages, messages * 1024 + options.audio.size() * 2});
  }

  // Frames in the recording (or in --duration).
  std::uint64_t total_frames() const { return total_frames_; }

  // The caller hangs up before the recording ends (a call flow ended): stop, then close. On
  // the call's loop.
  void hang_up() {
    if (reported_ || closed_) return;
    if (!up_) return fail("the call ended before the stream was up");
    if (finished_sending_) return;
    finished_sending_ = true;
    pace_timer_.cancel();
    send(writer_.stop());
    do_close();
  }

  void start() {
    started_ = Clock::now();
    net::async_connect_client(ws_.next_layer(), endpoint_, options_.connect_timeout, nullptr,
                              [self = this->shared_from_this()](std::optional<net::ConnectFailure> failure) {
                                if (failure) return self->fail(failure->message);
                                self->do_handshake();
                              });
  }

 private:
  static Stream make_stream(asio::io_context& loop, asio::ssl::context* tls) {
    if constexpr (std::is_same_v<Stream, websocket::stream<beast::ssl_stream<beast::tcp_stream>>>) {
      return Stream(loop, *tls);
    } else {
      (void)tls;
      return Stream(loop);
    }
  }

  void do_handshake() {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    std::string signature;
    if (!options_.auth_token.empty()) {
      // Twilio signs the stream's wss:// URL, without parameters.
      signature = twilio::compute_signature(options_.auth_token, options_.sign_url, {});
    }
    ws_.set_option(websocket::stream_base::decorator([signature](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, "TwilioProxy/1.1 (callproxy client-test)");
      if (!signature.empty()) req.set("X-Twilio-Signature", signature);
    }));
    ws_.read_message_max(1 << 20);
    ws_.async_handshake(response_, endpoint_.authority(), endpoint_.target,
                        beast::bind_front_handler(&TestCall::on_handshake, this->shared_from_this()));
  }

  void on_handshake(error_code ec) {
    if (ec == websocket::error::upgrade_declined) {
      std::string body = response_.body();
      if (body.size() > 200) body.resize(200);
      return fail("handshake refused: HTTP " + std::to_string(response_.result_int()) +
                  (body.empty() ? "" : " " + body));
    }
    if (ec) return fail("WebSocket handshake failed: " + ec.message());
    ++live_.calls_up;
    up_ = true;
    summary_.up = true;
    ws_.text(true);
    do_read();
    send(writer_.connected());
    send(writer_.start());
    first_frame_at_ = Clock::now();
    send_due_frames();
  }

  // ---- sending ------------------------------------------------------------------------
  void send_due_frames() {
    if (finished_sending_ || closed_) return;
    const auto now = Clock::now();
    while (next_frame_ < total_frames_) {
      const auto due = first_frame_at_ +
                       std::chrono::milliseconds((next_frame_ - first_frame_) * TwilioStreamWriter::frame_ms);
      if (options_.pace && due > now) {
        pace_timer_.expires_at(due);
        pace_timer_.async_wait([self = this->shared_from_this()](error_code ec) {
          if (!ec) self->send_due_frames();
        });
        return;
      }
      send_dtmf_due(std::chrono::milliseconds(next_frame_ * TwilioStreamWriter::frame_ms));
      send(writer_.media(frame(next_frame_)));
      ++next_frame_;
      ++summary_.frames_sent;
      ++live_.frames_sent;
    }
    send_dtmf_due(std::chrono::milliseconds::max());
    finished_sending_ = true;
    summary_.recording_done = true;
    send(writer_.stop());
    // The last replies (an echo is one frame behind) get a moment before the goodbye.
    grace_timer_.expires_after(options_.reply_grace);
    grace_timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (!ec) self->do_close();
    });
  }

  void send_dtmf_due(std::chrono::milliseconds now) {
    while (next_dtmf_ < options_.dtmf.size() && options_.dtmf[next_dtmf_].at <= now) {
      send(writer_.dtmf(options_.dtmf[next_dtmf_].digit));
      ++next_dtmf_;
    }
  }

  // Frame i of the call: 160 bytes of the recording (looped for --duration), padded with silence.
  std::vector<std::uint8_t> frame(std::uint64_t i) const {
    std::vector<std::uint8_t> bytes(TwilioStreamWriter::frame_bytes, 0xFF);
    const auto& audio = options_.audio;
    for (std::size_t k = 0; k < bytes.size(); ++k) {
      const auto at = i * TwilioStreamWriter::frame_bytes + k;
      if (options_.duration.count() > 0) bytes[k] = audio[at % audio.size()];
      else if (at < audio.size()) bytes[k] = audio[at];
    }
    return bytes;
  }

  void send(std::string text) {
    const auto bytes = text.size();
    // Paced frames cannot pile up unless the proxy stops reading: that ends the call.
    if (!outgoing_.push(std::move(text), bytes)) return fail("the proxy stopped reading (send queue full)");
    do_write();
  }

  void do_write() {
    if (writing_ || outgoing_.empty() || closed_) return;
    writing_ = true;
    ws_.async_write(asio::buffer(outgoing_.front()), [self = this->shared_from_this()](error_code ec, std::size_t) {
      self->writing_ = false;
      self->outgoing_.pop();
      if (ec) return;  // the read side reports the broken stream
      if (self->closing_ && self->outgoing_.empty()) return self->do_close();
      self->do_write();
    });
  }

  // ---- receiving ----------------------------------------------------------------------
  void do_read() { ws_.async_read(buffer_, beast::bind_front_handler(&TestCall::on_read, this->shared_from_this())); }

  void on_read(error_code ec, std::size_t) {
    if (ec) {
      closed_ = true;
      const auto reason = ws_.reason();
      summary_.close_code = static_cast<int>(reason.code);
      summary_.close_reason = std::string(reason.reason.data(), reason.reason.size());
      if (closing_ && (ec == websocket::error::closed || summary_.close_code != 0)) {
        summary_.ended_by = StreamResult::EndedBy::caller;
        return finish_ok();
      }
      if (ec == websocket::error::closed || summary_.close_code != 0) {
        summary_.ended_by = StreamResult::EndedBy::server;
        return fail("the server closed the stream early (" + std::to_string(summary_.close_code) +
                    (summary_.close_reason.empty() ? "" : " " + summary_.close_reason) + ") after " +
                    std::to_string(summary_.frames_sent) + " of " + std::to_string(total_frames_) + " frames");
      }
      return fail("stream lost: " + ec.message());
    }
    on_message(beast::buffers_to_string(buffer_.data()));
    buffer_.consume(buffer_.size());
    do_read();
  }

  void on_message(const std::string& text) {
    const auto reply = twilio::parse_reply_message(text);
    if (!reply) return;  // not for us to judge; the proxy's tests do
    if (const auto* media = std::get_if<twilio::ReplyMedia>(&reply.value())) {
      ++summary_.replies;
      if (auto bytes = twilio::base64_decode(media->payload)) {
        summary_.reply_audio.insert(summary_.reply_audio.end(), bytes->begin(), bytes->end());
      }
    } else if (const auto* mark = std::get_if<twilio::ReplyMark>(&reply.value())) {
      // Twilio echoes a mark once the audio sent before it has played; ours plays instantly.
      ++summary_.marks_echoed;
      if (!finished_sending_) send(writer_.mark(mark->name));
    } else if (std::holds_alternative<twilio::ReplyClear>(reply.value())) {
      ++summary_.clears;
    }
  }

  // ---- ending -------------------------------------------------------------------------
  void do_close() {
    if (closed_) return;
    closing_ = true;
    if (writing_ || !outgoing_.empty()) return;  // after the last write
    if (close_started_) return;
    close_started_ = true;
    ws_.async_close(websocket::close_code::normal, [self = this->shared_from_this()](error_code) {
      // The read loop ends with `closed` and reports.
    });
  }

  void finish_ok() {
    summary_.ok = true;
    report();
  }

  void fail(const std::string& why) {
    summary_.ok = false;
    summary_.error = why;
    ++live_.errors;
    error_code ignored;
    pace_timer_.cancel();
    grace_timer_.cancel();
    beast::get_lowest_layer(ws_).socket().close(ignored);
    report();
  }

  void report() {
    if (reported_) return;
    reported_ = true;
    if (up_) --live_.calls_up;
    summary_.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
    pace_timer_.cancel();
    grace_timer_.cancel();
    done_(std::move(summary_));
  }

  asio::io_context& loop_;
  const ClientTestOptions& options_;
  Endpoint endpoint_;
  TwilioStreamWriter writer_;
  asio::steady_timer pace_timer_;
  asio::steady_timer grace_timer_;
  LiveStats& live_;
  Done done_;
  Stream ws_;
  websocket::response_type response_;
  beast::flat_buffer buffer_;
  net::WriteQueue<std::string> outgoing_;  // bounded by the call itself (--no-pace sends it at once)
  CallSummary summary_;
  std::uint64_t total_frames_ = 0;
  std::uint64_t first_frame_ = 0;
  std::uint64_t next_frame_ = 0;
  std::size_t next_dtmf_ = 0;
  Clock::time_point started_{};
  Clock::time_point first_frame_at_{};
  bool writing_ = false;
  bool up_ = false;
  bool finished_sending_ = false;
  bool closing_ = false;
  bool close_started_ = false;
  bool closed_ = false;
  bool reported_ = false;
};

std::string describe(const CallSummary& s) {
  std::string out = "call " + std::to_string(s.index) + " " + s.stream_sid + ": ";
  if (s.ok) {
    out += "ok, " + std::to_string(s.frames_sent) + " frames sent, " + std::to_string(s.replies) + " replies, " +
           std::to_string(static_cast<double>(s.duration.count()) / 1000.0).substr(0, 5) + " s";
  } else {
    out += "FAILED: " + s.error;
  }
  return out;
}

nlohmann::json to_json(const CallSummary& s) {
  return {{"call", s.index},
          {"ok", s.ok},
          {"error", s.ok ? nlohmann::json(nullptr) : nlohmann::json(s.error)},
          {"streamSid", s.stream_sid},
          {"callSid", s.call_sid},
          {"executionId", s.execution_id},
          {"framesSent", s.frames_sent},
          {"repliesReceived", s.replies},
          {"replyBytes", s.reply_audio.size()},
          {"marksEchoed", s.marks_echoed},
          {"clearsReceived", s.clears},
          {"durationMs", s.duration.count()},
          {"closeCode", s.close_code},
          {"closeReason", s.close_reason}};
}

class Runner {
 public:
  Runner(const ClientTestOptions& options, Endpoint endpoint)
      : options_(options), endpoint_(std::move(endpoint)), signals_(loop_, SIGINT, SIGTERM), tick_(loop_) {
    if (endpoint_.tls) tls_ = net::make_client_tls_context(options_.ca_file);
  }

  int run() {
    signals_.async_wait([this](error_code ec, int) {
      if (ec) return;
      stopping_ = true;
      tick_.cancel();
      if (in_flight_ == 0) loop_.stop();
    });
    switch (options_.mode) {
      case ClientTestOptions::Mode::once: start_call(); break;
      case ClientTestOptions::Mode::load:
        for (unsigned i = 0; i < options_.calls; ++i) start_call();
        if (::isatty(STDERR_FILENO)) show_progress();
        break;
      case ClientTestOptions::Mode::every: start_every(); break;
    }
    loop_.run();
    if (options_.mode == ClientTestOptions::Mode::load) print_totals();
    return failed_ == 0 && completed_ > 0 ? 0 : 1;
  }

 private:
  void start_every() {
    if (stopping_) return;
    start_call();
    tick_.expires_after(options_.every);
    tick_.async_wait([this](error_code ec) {
      if (!ec) start_every();
    });
  }

  void start_call() {
    ++in_flight_;
    auto done = [this](CallSummary summary) { on_done(std::move(summary)); };
    const unsigned index = ++started_;
    if (endpoint_.tls) {
      std::make_shared<TestCall<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>>(
          loop_, tls_.get(), options_, endpoint_, index, random_, live_, done)
          ->start();
    } else {
      std::make_shared<TestCall<websocket::stream<beast::tcp_stream>>>(loop_, nullptr, options_, endpoint_, index,
                                                                       random_, live_, done)
          ->start();
    }
  }

  void on_done(CallSummary summary) {
    --in_flight_;
    ++completed_;
    if (!summary.ok) ++failed_;
    frames_ += summary.frames_sent;
    replies_ += summary.replies;
    if (options_.json) {
      std::cout << to_json(summary).dump() << std::endl;
    } else if (options_.mode != ClientTestOptions::Mode::load || !summary.ok) {
      (summary.ok ? std::cout : std::cerr) << describe(summary) << std::endl;
    }
    if (!options_.save_replies.empty()) {
      const auto written = twilio::write_mulaw_wav(options_.save_replies, summary.reply_audio);
      if (!written) std::cerr << "client-test: --save-replies: " << written.error() << std::endl;
    }
    const bool last = options_.mode != ClientTestOptions::Mode::every || stopping_;
    if (last && in_flight_ == 0) loop_.stop();
  }

  void show_progress() {
    std::cerr << "\rcalls up " << live_.calls_up << "/" << options_.calls << ", frames sent " << live_.frames_sent
              << ", errors " << live_.errors << "   " << std::flush;
    if (in_flight_ == 0) return void(std::cerr << "\n");
    tick_.expires_after(std::chrono::milliseconds(500));
    tick_.async_wait([this](error_code ec) {
      if (!ec) show_progress();
    });
  }

  void print_totals() {
    const nlohmann::json totals{
        {"calls", completed_}, {"failed", failed_}, {"framesSent", frames_}, {"repliesReceived", replies_}};
    if (options_.json) std::cout << nlohmann::json{{"summary", totals}}.dump() << std::endl;
    else
      std::cout << "summary: " << completed_ << " calls, " << failed_ << " failed, " << frames_ << " frames sent, "
                << replies_ << " replies" << std::endl;
  }

  const ClientTestOptions& options_;
  Endpoint endpoint_;
  asio::io_context loop_{1};
  std::shared_ptr<asio::ssl::context> tls_;
  asio::signal_set signals_;
  asio::steady_timer tick_;
  std::mt19937_64 random_{std::random_device{}()};
  LiveStats live_;
  unsigned started_ = 0, in_flight_ = 0, completed_ = 0, failed_ = 0;
  std::uint64_t frames_ = 0, replies_ = 0;
  bool stopping_ = false;
};

// ---- client-test --flow: the webhooks over HTTP(S), the streams as TestCalls ----------------

// One webhook request on a loop of its own, bounded by `timeout` from the lookup to the last
// byte of the answer; the answer's body is limited (TwiML is small).
class WebhookClient {
 public:
  explicit WebhookClient(std::string ca_file) : ca_file_(std::move(ca_file)) {}

  FlowResponse fetch(const FlowRequest& request, std::chrono::milliseconds timeout) {
    FlowResponse out;
    const auto endpoint = net::parse_url(request.url, net::UrlScheme::http);
    if (!endpoint) {
      out.error = "not an http:// or https:// URL (" + endpoint.error() + ")";
      return out;
    }
    asio::io_context loop{1};
    if (endpoint.value().tls) {
      try {
        if (!tls_) tls_ = net::make_client_tls_context(ca_file_);
      } catch (const std::exception& e) {
        out.error = std::string("no TLS context: ") + e.what();
        return out;
      }
      beast::ssl_stream<beast::tcp_stream> stream(loop, *tls_);
      exchange(stream, endpoint.value(), request, timeout, out);
      loop.run();
    } else {
      beast::tcp_stream stream(loop);
      exchange(stream, endpoint.value(), request, timeout, out);
      loop.run();
    }
    if (out.status == 0 && out.error == "timeout") {
      const auto ms = timeout.count();
      out.error = "no answer within " +
                  (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms");
    }
    return out;
  }

 private:
  static constexpr std::size_t body_limit = 1 << 20;

  template <class Stream>
  void exchange(Stream& stream, const Endpoint& endpoint, const FlowRequest& request, std::chrono::milliseconds timeout,
                FlowResponse& out) {
    const auto until = Clock::now() + timeout;
    auto req = std::make_shared<http::request<http::string_body>>(
        request.method == "GET" ? http::verb::get : http::verb::post, endpoint.target, 11);
    req->set(http::field::host, endpoint.authority());
    req->set(http::field::user_agent, "TwilioProxy/1.1 (callproxy client-test --flow)");
    req->set(http::field::accept, "*/*");
    for (const auto& [name, value] : request.headers) req->set(name, value);
    if (request.method != "GET") {
      req->set(http::field::content_type, "application/x-www-form-urlencoded; charset=utf-8");
      req->body() = form_encode(request.params);
    }
    req->prepare_payload();
    auto buffer = std::make_shared<beast::flat_buffer>();
    auto parser = std::make_shared<http::response_parser<http::string_body>>();
    parser->body_limit(body_limit);
    const auto failed = [&out](const error_code& ec, const char* what) {
      out.error = ec == beast::error::timeout ? "timeout" : std::string(what) + ": " + ec.message();
    };
    net::async_connect_client(
        stream, endpoint, timeout, nullptr,
        [&stream, &out, until, req, buffer, parser, failed](std::optional<net::ConnectFailure> failure) {
          if (failure) {
            out.error = failure->message;
            return;
          }
          beast::get_lowest_layer(stream).expires_at(until);
          http::async_write(stream, *req, [&stream, &out, req, buffer, parser, failed](error_code ec, std::size_t) {
            if (ec) return failed(ec, "cannot send the request");
            http::async_read(stream, *buffer, *parser, [&out, buffer, parser, failed](error_code ec, std::size_t) {
              if (ec) return failed(ec, "no valid HTTP answer");
              out.status = static_cast<int>(parser->get().result_int());
              out.body = parser->get().body();
            });
          });
        });
  }

  std::string ca_file_;
  std::shared_ptr<asio::ssl::context> tls_;
};

// The hooks the call flow runs on: webhooks over HTTP(S), each stream a TestCall on a loop of its
// own (a <Connect>'s on this thread, a fork's on a thread of its own). The recording plays on the
// call's clock: a stream that opens later starts where the call's time since the first stream
// began has reached (or, without pacing, where the last stream stopped).
class SocketFlowHooks final : public CallFlowHooks {
 public:
  explicit SocketFlowHooks(const ClientTestOptions& options) : options_(options), webhooks_(options.ca_file) {}
  ~SocketFlowHooks() override {
    try {
      end_call();                      // forks still running: hung up, their threads joined
    } catch (const std::exception&) {  // a thread that cannot be joined: nothing better to do here
    }
  }

  FlowResponse fetch(const FlowRequest& request, std::chrono::milliseconds timeout) override {
    return webhooks_.fetch(request, timeout);
  }

  StreamResult run_stream(const StreamRequest& request) override {
    auto stream = std::make_shared<Stream>();
    if (!prepare(*stream, request)) {
      finish(*stream);
      return stream->result;
    }
    stream->loop.run();
    finish(*stream);
    return stream->result;
  }

  void start_stream(const StreamRequest& request) override {
    auto stream = std::make_shared<Stream>();
    {
      std::lock_guard lock(mutex_);
      forks_.push_back(stream);
    }
    if (!prepare(*stream, request)) return finish(*stream);
    stream->thread = std::thread([this, stream] {
      stream->loop.run();
      finish(*stream);
    });
  }

  bool forks_running() override {
    std::lock_guard lock(mutex_);
    return std::any_of(forks_.begin(), forks_.end(), [](const auto& fork) { return !fork->ended; });
  }

  bool wait(std::chrono::milliseconds duration) override {
    std::unique_lock lock(mutex_);
    return !changed_.wait_for(lock, duration, [this] { return recording_ended_; });
  }

  std::vector<StreamResult> end_call() override {
    std::vector<std::shared_ptr<Stream>> forks;
    {
      std::lock_guard lock(mutex_);
      forks.swap(forks_);
    }
    for (auto& fork : forks) {
      // A loop that has stopped never runs it: that stream has ended already.
      if (auto* call = fork->call.get()) asio::post(fork->loop, [call] { call->hang_up(); });
    }
    std::vector<StreamResult> results;
    for (auto& fork : forks) {
      if (fork->thread.joinable()) fork->thread.join();
      results.push_back(fork->result);
    }
    return results;
  }

 private:
  using PlainCall = TestCall<websocket::stream<beast::tcp_stream>>;
  using TlsCall = TestCall<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>;

  // Hang-up reaches a stream through this, whichever transport it runs on.
  struct Hangable {
    virtual ~Hangable() = default;
    virtual void hang_up() = 0;
  };
  template <class Call>
  struct HangableCall : Hangable {
    explicit HangableCall(std::shared_ptr<Call> c) : call(std::move(c)) {}
    void hang_up() override { call->hang_up(); }
    std::shared_ptr<Call> call;
  };

  struct Stream {
    asio::io_context loop{1};
    ClientTestOptions options;       // this stream's: its URL signed as Twilio signs it
    std::shared_ptr<Hangable> call;  // after the loop: gone before it
    StreamResult result;
    bool ended = false;  // finish() ran (under mutex_)
    Clock::time_point began{};
    std::thread thread;
    LiveStats live;
    std::mt19937_64 random{std::random_device{}()};
  };

  // Sets the stream up on its loop; false when it cannot run (the result says why).
  bool prepare(Stream& stream, const StreamRequest& request) {
    auto& result = stream.result;
    result.url = request.url;
    result.stream_sid = request.stream_sid;
    result.fork = request.fork;
    stream.began = Clock::now();
    const auto endpoint = net::parse_url(request.url, net::UrlScheme::websocket);
    if (!endpoint) {
      result.error = "not a ws:// or wss:// URL (" + endpoint.error() + ")";
      return false;
    }
    stream.options = options_;
    stream.options.url = request.url;
    stream.options.sign_url = request.url;  // Twilio signs the <Stream> URL as written
    stream.options.custom_parameters = request.parameters;
    stream.options.execution_id_per_call = false;
    // Where the call's clock has reached in the recording.
    std::uint64_t first_frame = 0;
    {
      std::lock_guard lock(mutex_);
      if (!clock_started_) {
        clock_started_ = true;
        call_clock_ = stream.began;
      } else if (options_.pace) {
        first_frame = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(stream.began - call_clock_).count() /
            TwilioStreamWriter::frame_ms);
      } else {
        first_frame = frames_played_;
      }
    }
    result.first_frame = first_frame;
    TwilioStreamWriter writer({request.account_sid, request.call_sid, request.stream_sid}, request.parameters);
    auto done = [&stream](const CallSummary& summary) {
      auto& r = stream.result;
      r.frames_sent = summary.frames_sent;
      r.replies = summary.replies;
      r.marks_echoed = summary.marks_echoed;
      r.close_code = summary.close_code;
      r.close_reason = summary.close_reason;
      r.ended_by = summary.ended_by;
      r.recording_ended = summary.recording_done;
      r.came_up = summary.up;
      if (!summary.ok && summary.ended_by == StreamResult::EndedBy::connection) r.error = summary.error;
    };
    try {
      if (endpoint.value().tls) {
        if (!tls_) tls_ = net::make_client_tls_context(options_.ca_file);
        auto call = std::make_shared<TlsCall>(stream.loop, tls_.get(), stream.options, endpoint.value(), 1,
                                              std::move(writer), first_frame, stream.live, done);
        if (!admit(stream, call->total_frames(), first_frame)) return false;
        stream.call = std::make_shared<HangableCall<TlsCall>>(call);
        call->start();
      } else {
        auto call = std::make_shared<PlainCall>(stream.loop, nullptr, stream.options, endpoint.value(), 1,
                                                std::move(writer), first_frame, stream.live, done);
        if (!admit(stream, call->total_frames(), first_frame)) return false;
        stream.call = std::make_shared<HangableCall<PlainCall>>(call);
        call->start();
      }
    } catch (const std::exception& e) {
      result.error = e.what();
      return false;
    }
    return true;
  }

  // A stream that opens after the recording's end: the caller has hung up already.
  bool admit(Stream& stream, std::uint64_t total_frames, std::uint64_t first_frame) {
    if (first_frame < total_frames) return true;
    stream.result.ended_by = StreamResult::EndedBy::caller;
    stream.result.recording_ended = true;
    return false;
  }

  void finish(Stream& stream) {
    stream.result.ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - stream.began);
    std::lock_guard lock(mutex_);
    stream.ended = true;
    frames_played_ = std::max(frames_played_, stream.result.first_frame + stream.result.frames_sent);
    if (stream.result.recording_ended) {
      recording_ended_ = true;
      changed_.notify_all();
    }
  }

  const ClientTestOptions& options_;
  WebhookClient webhooks_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::shared_ptr<Stream>> forks_;
  bool clock_started_ = false;
  Clock::time_point call_clock_{};
  std::uint64_t frames_played_ = 0;
  bool recording_ended_ = false;
};

}  // namespace

std::unique_ptr<CallFlowHooks> make_socket_flow_hooks(const ClientTestOptions& options) {
  return std::make_unique<SocketFlowHooks>(options);
}

int run_call_flow_test(const ClientTestOptions& options, const CallFlowOptions& flow) {
  if (!net::parse_url(flow.url, net::UrlScheme::http)) {
    std::cerr << "client-test: --flow: '" << flow.url << "' is not an http:// or https:// URL\n";
    return 2;
  }
  try {
    if (!options.ca_file.empty()) (void)net::make_client_tls_context(options.ca_file);
  } catch (const std::invalid_argument& e) {
    std::cerr << "client-test: --ca-file: " << e.what() << "\n";
    return 2;
  }
  SocketFlowHooks hooks(options);
  const auto result = run_call_flow(flow, hooks, [](const nlohmann::json& step) {
    std::cout << step.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  });
  if (!result.ok()) std::cerr << "client-test: --flow: " << result.error << std::endl;
  if (result.stream_errors > 0)
    std::cerr << "client-test: --flow: " << result.stream_errors << " stream(s) never came up" << std::endl;
  return result.ok() && result.stream_errors == 0 ? 0 : 1;
}

int run_client_test(const ClientTestOptions& options) {
  const auto endpoint = net::parse_url(options.url, net::UrlScheme::websocket);
  if (!endpoint) {
    std::cerr << "client-test: --url: '" << options.url << "' is not a ws:// or wss:// URL (" << endpoint.error()
              << ")\n";
    return 2;
  }
  std::unique_ptr<Runner> runner;
  try {
    runner = std::make_unique<Runner>(options, endpoint.value());
  } catch (const std::invalid_argument& e) {  // a --ca-file that holds no certificate
    std::cerr << "client-test: --ca-file: " << e.what() << "\n";
    return 2;
  }
  return runner->run();
}

}  // namespace callproxy::testclient
