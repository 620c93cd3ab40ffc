// serve's HTTP connections on Beast, in the style of Beast's advanced server example: one class
// per connection, do_x/on_x pairs, limits and timeouts stated where they apply.
#include "proxy/http/http_session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <memory>
#include <optional>
#include <utility>

#include "core/json_text.h"
#include "net/asio_names.h"
#include "net/source_key.h"
#include "net/websocket_frame.h"
#include "proxy/http/limited_log.h"
#include "proxy/media/call_session.h"

namespace callproxy::proxy {
namespace {

using TlsStream = beast::ssl_stream<net::LoopTcpStream>;
using Clock = std::chrono::steady_clock;

// Access lines go to the logger named "access" when the program set one up (it formats them for
// the chosen log format), else to the default logger, as a JSON object.
std::shared_ptr<spdlog::logger> access_logger() {
  auto logger = spdlog::get("access");
  return logger ? logger : spdlog::default_logger();
}

// Methods are tokens of any length to the parser; the known ones are at most 7 letters.
constexpr std::size_t max_logged_method_bytes = 32;
// A connection past the connection limit gets this long (at most) to say it is a health probe.
constexpr std::chrono::milliseconds probe_header_timeout{2000};
// What a kept-alive connection reads while it waits for the next request.
constexpr std::size_t first_read_bytes = 4096;

const char* const at_limit_message = "server is at its connection limit: try again later";

// What a load balancer or an orchestrator asks: answered even at the connection limit.
bool is_health_probe(const http::request_header<>& message) {
  const auto method = message.method();
  if (method != http::verb::get && method != http::verb::head) return false;
  const auto target = std::string_view(message.target());
  const auto path = target.substr(0, target.find('?'));
  return path == "/healthz" || path == "/readyz" || path == "/";
}

// RFC 9112 3.2: an HTTP/1.1 request has exactly one Host header; any request at most one. The
// signed URL is built from it, so an ambiguous one is refused rather than guessed at.
std::optional<std::string> host_problem(const http::request_header<>& message) {
  const auto hosts = message.count(http::field::host);
  if (hosts > 1) return "more than one Host header";
  if (hosts == 0 && message.version() >= 11) return "an HTTP/1.1 request needs a Host header";
  return std::nullopt;
}

// A request refused for how it is framed: its status and why.
struct FramingRefusal {
  int status;
  std::string message;
};

// RFC 9112 6.1 and 6.3. chunked is the one transfer coding serve reads, and only as the request's
// whole Transfer-Encoding. When the codings do not end in chunked (`gzip`, `xchunked`, `chunked,
// identity`) the body's length cannot be known: Beast's parser takes it as empty and would read
// the body as the next request, one that a proxy in front, framing the body otherwise, never saw
// (request smuggling). Those are answered 400 and the connection closed. What Beast's parser
// frames as chunked (`chunked_framed`) but is not `chunked` alone (`gzip, chunked`, `chunked;x=1`)
// has a body serve cannot decode: 501, closed too. HTTP/1.0 has no transfer codings: 400.
std::optional<FramingRefusal> transfer_coding_problem(const http::request_header<>& message, bool chunked_framed) {
  const auto lines = message.count(http::field::transfer_encoding);
  if (lines == 0) return std::nullopt;
  if (message.version() < 11) return FramingRefusal{400, "Transfer-Encoding in an HTTP/1.0 request"};
  if (!chunked_framed) {
    return FramingRefusal{400, "Transfer-Encoding does not end in a single chunked: the body's length is unknown"};
  }
  auto value = std::string_view(message[http::field::transfer_encoding]);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (lines == 1 && beast::iequals(value, "chunked")) return std::nullopt;
  return FramingRefusal{501, "Transfer-Encoding other than chunked alone is not implemented"};
}

void log_refusals(const HttpContext& context) {
  context.metrics.connections_refused.add();
  context.metrics.http_responses[StatusClass::server_error].add();  // the 503 written to each
  if (const auto refused = context.limits.note_refusal(Clock::now())) {
    spdlog::warn("http: at the connection limit ({} connections, {} more for health probes): {} connection{} "
                 "answered 503 since the last such line",
                 context.limits.max_connections(), ConnectionLimits::probe_reserve, refused, refused == 1 ? "" : "s");
  }
}

// Past the limit and its probe reserve: 503 without reading the request, and closed, so that
// the descriptor is back at once. A new socket's send buffer takes the whole answer; what the
// client already sent is read off first so that closing does not reset the connection before the
// client has read the answer. TLS connections are closed without an answer (it would take a
// handshake).
// Why a WebSocket upgrade is one serve does not take (RFC 6455 4.2.1: version 13, one key of 16
// bytes in canonical base64), or nullopt. Checked before the 101, so that the access log, the
// metrics and the answer agree, and every stream that gets a 101 is read by net::RawWebSocket.
std::optional<HttpResponse> handshake_refusal(const http::request<http::string_body>& upgrade) {
  if (upgrade.count(http::field::sec_websocket_version) != 1 || upgrade[http::field::sec_websocket_version] != "13") {
    auto refusal = HttpResponse::error(426, "/media speaks WebSocket version 13 only");
    refusal.headers.emplace_back("Sec-WebSocket-Version", "13");
    return refusal;
  }
  if (upgrade.count(http::field::sec_websocket_key) != 1 ||
      !net::ws::valid_client_key(upgrade[http::field::sec_websocket_key])) {
    return HttpResponse::error(400, "Sec-WebSocket-Key must be one header: 16 bytes in canonical base64");
  }
  return std::nullopt;
}

// The peer's address as the connection has it; an IPv4 client of a dual-stack socket as IPv4.
std::string peer_address(const net::LoopSocket& socket) {
  error_code ec;
  const auto address = socket.remote_endpoint(ec).address();
  if (ec) return {};
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  }
  return address.to_string();
}

void refuse_at_once(net::LoopSocket socket, const HttpContext& context) {
  log_refusals(context);
  error_code ignored;
  if (!context.tls) {
    const auto body = dump_json(nlohmann::json{{"message", at_limit_message}});
    const auto answer = "HTTP/1.1 503 Service Unavailable\r\nServer: callproxy\r\nContent-Type: application/json; "
                        "charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\nX-Request-Id: " +
                        request_id_for({}) + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    socket.non_blocking(true, ignored);
    std::array<char, 4096> discard{};
    socket.read_some(asio::buffer(discard), ignored);
    socket.write_some(asio::buffer(answer), ignored);
    socket.shutdown(tcp::socket::shutdown_send, ignored);
  }
  socket.close(ignored);
}

// One HTTP connection, plain (net::LoopTcpStream) or TLS (TlsStream, --tls-cert).
template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
  using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;

 public:
  // `admission` holds this connection's places among --max-connections (or the probe reserve)
  // and its source's; they go with the connection when it becomes a call.
  template <class... TlsContext>
  HttpSession(net::LoopSocket&& socket, const HttpContext& context, ConnectionLimits::Admission admission,
              TlsContext&... tls)
      : stream_(std::move(socket), tls...),
        request_timer_(stream_.get_executor()),
        context_(context),
        router_(context.router),
        options_(context.options),
        connection_(std::move(admission.lease)),
        source_(std::move(admission.source)),
        probe_(admission.place == ConnectionLimits::Place::probe) {}

  void run() {
    // Start on the socket's own loop: everything of this connection happens there.
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      // A new connection's first request header (and the TLS handshake before it) is due
      // header_timeout after it was accepted: a client that connects and says nothing is gone.
      beast::get_lowest_layer(self->stream_).expires_after(self->header_timeout());
      if constexpr (std::is_same_v<Stream, TlsStream>) {
        self->stream_.async_handshake(asio::ssl::stream_base::server, [self](error_code ec) {
          if (ec) return spdlog::debug("https: TLS handshake with {} failed: {}", self->remote(), ec.message());
          self->read_header();
        });
      } else {
        self->read_header();
      }
    });
  }

 private:
  std::chrono::milliseconds header_timeout() const {
    return probe_ ? std::min(options_.header_timeout, probe_header_timeout) : options_.header_timeout;
  }

  // A kept-alive connection: the next request's first byte may take idle_timeout, its header
  // then header_timeout.
  void do_read() {
    if (buffer_.size() > 0) {  // pipelined: the next request has begun
      beast::get_lowest_layer(stream_).expires_after(header_timeout());
      return read_header();
    }
    beast::get_lowest_layer(stream_).expires_after(options_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(first_read_bytes),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              self->buffer_.commit(n);
                              if (ec) return self->do_close();  // closed, reset, or idle too long
                              beast::get_lowest_layer(self->stream_).expires_after(self->header_timeout());
                              self->read_header();
                            });
  }

  void read_header() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&HttpSession::on_header, shared_from_this()));
  }

  void on_header(error_code ec, std::size_t) {
    started_ = Clock::now();
    note_request();
    if (ec) return on_read_error(ec);
    const auto& message = parser_->get();
    if (auto problem = host_problem(message)) return send_error(400, "malformed HTTP request: " + *problem);
    if (auto refusal = transfer_coding_problem(message, parser_->chunked())) {
      return send_error(refusal->status, (refusal->status == 400 ? "malformed HTTP request: " : "") + refusal->message);
    }
    if (probe_ && !is_health_probe(message)) {
      log_refusals(context_);
      auto refusal = HttpResponse::error(503, at_limit_message);
      refusal.headers.emplace_back("Retry-After", "1");
      return do_write(std::move(refusal), false);
    }
    // The body and the handler share one deadline.
    request_deadline_ = started_ + options_.request_timeout;
    if (parser_->is_done()) return on_request();
    beast::get_lowest_layer(stream_).expires_at(request_deadline_);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->on_read_error(ec);
      self->on_request();
    });
  }

  void on_read_error(error_code ec) {
    // A timeout has closed the socket already (slowloris: a header or body that does not come).
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset) {
      return do_close();
    }
    if (ec == http::error::body_limit) {
      return send_error(413, "request body exceeds " + std::to_string(options_.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return send_error(431, "request headers exceed " + std::to_string(options_.max_header_bytes) + " bytes");
    }
    spdlog::debug("http: bad request from {}: {}", remote(), ec.message());
    send_error(400, "malformed HTTP request: " + ec.message());
  }

  void on_request() {
    beast::get_lowest_layer(stream_).expires_never();  // the request deadline is request_timer_'s now
    auto& message = parser_->get();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    }
    request.request_id = request_id_;
    if (request.path() == "/media") {
      if (!beast::websocket::is_upgrade(message)) return do_write(context_.gate.not_websocket(), false);
      if (auto refusal = handshake_refusal(message)) {
        context_.metrics.handshake_rejections[Rejection::not_websocket].add();
        return do_write(std::move(*refusal), false);
      }
      Lease call;
      if (auto refusal = context_.gate.check(request, call)) return do_write(std::move(*refusal), false);
      // The connection becomes a call: it keeps its socket, its loop, and its places among the
      // connections and the calls. The call session writes the 101 itself.
      log_access(101);
      auto upgrade = parser_->release();
      upgrade.set("X-Request-Id", request_id_);  // the 101 carries it, as every other answer does
      auto places = std::make_shared<std::array<Lease, 3>>(
          std::array<Lease, 3>{std::move(connection_), std::move(source_), std::move(call)});
      return start_call_session(std::move(stream_), std::move(upgrade), context_.calls, std::move(places));
    }
    request.body = std::move(message.body());
    request.remote_address = remote_address();
    const bool keep_alive = message.keep_alive() && !probe_;

    // The handler's answer, or 503 at the request's deadline, whichever comes first; the other
    // is ignored. A handler may answer from another loop (a store, a remote API): back to ours.
    const auto request_number = ++requests_;
    awaiting_answer_ = true;
    request_timer_.expires_at(request_deadline_);
    request_timer_.async_wait([self = shared_from_this(), request_number](error_code ec) {
      if (!ec) self->on_request_timeout(request_number);
    });
    router_.dispatch(request, [self = shared_from_this(), request_number, keep_alive](HttpResponse r) {
      asio::dispatch(self->stream_.get_executor(), [self, request_number, r = std::move(r), keep_alive]() mutable {
        if (request_number != self->requests_ || !self->awaiting_answer_) return;  // answered 503 already
        self->awaiting_answer_ = false;
        self->request_timer_.cancel();
        self->do_write(std::move(r), keep_alive);
      });
    });
  }

  void on_request_timeout(std::uint64_t request_number) {
    if (request_number != requests_ || !awaiting_answer_) return;
    awaiting_answer_ = false;
    context_.metrics.http_request_timeouts.add();
    const auto ms = options_.request_timeout.count();
    spdlog::warn("http: {} {} (request {}, peer {}) not answered within {} ms: answered 503", method_, path_,
                 request_id_, remote(), ms);
    do_write(
        HttpResponse::error(503, "the request was not answered within " + std::to_string(ms) + " ms: try again later"),
        false);
  }

  void send_error(int status, const std::string& message) { do_write(HttpResponse::error(status, message), false); }

  // The request's method, path (without its query: it may carry secrets), id, version and
  // whether it is a HEAD, for the answer and its access line; from what the parser has, which
  // may be nothing yet.
  void note_request() {
    method_ = "-";
    path_ = "-";
    version_ = 11;
    head_ = false;
    std::string incoming;
    // Also when the header was refused after it was read (a body over the limit is refused as
    // soon as its Content-Length is seen): what was parsed is there.
    if (parser_) {
      const auto& message = parser_->get();
      if (!message.method_string().empty()) method_ = logged_text(message.method_string(), max_logged_method_bytes);
      const auto target = std::string_view(message.target());
      if (!target.empty()) path_ = logged_text(target.substr(0, target.find('?')));
      if (const auto it = message.find("X-Request-Id"); it != message.end()) incoming = std::string(it->value());
      if (message.version() == 10) version_ = 10;
      head_ = message.method() == http::verb::head;
    }
    request_id_ = request_id_for(incoming);
  }

  // One line per request, when its answer is written: method, path, status, duration, id, peer.
  void log_access(int status) {
    context_.metrics.http_responses[status_class(status)].add();
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count();
    nlohmann::ordered_json line;
    line["method"] = method_;
    line["path"] = path_;
    line["status"] = status;
    line["durationMs"] = static_cast<double>(micros) / 1000.0;
    line["requestId"] = request_id_;
    line["peer"] = remote();
    access_logger()->log(status >= 500 ? spdlog::level::warn : spdlog::level::info, "{}", dump_json(line));
  }

  void do_write(HttpResponse response, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(response.status),
                                                                   version_);
    res->set(http::field::server, "callproxy");
    res->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) res->set(name, value);
    res->set("X-Request-Id", request_id_);
    log_access(response.status);
    res->keep_alive(keep_alive);
    res->body() = std::move(response.body);
    res->prepare_payload();
    if (head_) res->body().clear();  // Content-Length stays that of the GET answer
    beast::get_lowest_layer(stream_).expires_after(options_.idle_timeout);
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
    request_timer_.cancel();
    // The place goes before the FIN does: a client that saw the connection end finds it free
    // (the session itself lasts until its cancelled operations have run, a loop turn later).
    connection_ = Lease{};
    source_ = Lease{};
    auto& socket = beast::get_lowest_layer(stream_).socket();
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
  }

  std::string remote_address() const { return peer_address(beast::get_lowest_layer(stream_).socket()); }

  std::string remote() const {
    error_code ec;
    const auto endpoint = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    return ec ? std::string("?") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }

  Stream stream_;
  asio::steady_timer request_timer_;  // the request's deadline while its handler runs
  Clock::time_point started_{};
  Clock::time_point request_deadline_{};
  std::uint64_t requests_ = 0;              // requests read on this connection; the last one is being answered
  bool awaiting_answer_ = false;            // its handler has not answered and its deadline has not passed
  std::string method_, path_, request_id_;  // the request being answered
  unsigned version_ = 11;
  bool head_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpContext& context_;
  const Router& router_;
  const HttpOptions& options_;
  Lease connection_;
  Lease source_;
  const bool probe_;  // past the connection limit: health probes only
};

}  // namespace

void accept_http_connection(net::LoopSocket socket, const HttpContext& context) {
  std::string source;
  if (context.options.max_connections_per_source > 0) {
    source = net::source_key(peer_address(socket));
  }
  auto admission = context.limits.admit_connection(source);
  if (admission.place == ConnectionLimits::Place::none) return refuse_at_once(std::move(socket), context);
  if (context.tls) {
    // The OpenSSL context is reference-counted by each connection made from it (SSL_new): one
    // replaced by a reload lives on until its last connection ends.
    const auto tls = context.tls->load();
    std::make_shared<HttpSession<TlsStream>>(std::move(socket), context, std::move(admission), *tls)->run();
  } else {
    std::make_shared<HttpSession<net::LoopTcpStream>>(std::move(socket), context, std::move(admission))->run();
  }
}

}  // namespace callproxy::proxy
