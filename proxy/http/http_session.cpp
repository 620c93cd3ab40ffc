// serve's HTTP connections on Beast, in the style of Beast's advanced server example: one class
// per connection, do_x/on_x pairs, limits and timeouts stated where they apply.
#include "proxy/http/http_session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <optional>

#include "core/json_text.h"
#include "net/asio_names.h"
#include "proxy/media/call_session.h"

namespace callproxy::proxy {
namespace {

using TlsStream = beast::ssl_stream<net::LoopTcpStream>;

// Access lines go to the logger named "access" when the program set one up (it formats them for
// the chosen log format), else to the default logger, as a JSON object.
std::shared_ptr<spdlog::logger> access_logger() {
  auto logger = spdlog::get("access");
  return logger ? logger : spdlog::default_logger();
}

constexpr std::size_t max_logged_path_bytes = 256;

// One HTTP connection, plain (net::LoopTcpStream) or TLS (TlsStream, --tls-cert).
template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
  using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;

 public:
  template <class... TlsContext>
  HttpSession(net::LoopSocket&& socket, const HttpContext& context, TlsContext&... tls)
      : stream_(std::move(socket), tls...), context_(context), router_(context.router), options_(context.options) {}

  void run() {
    // Start on the socket's own loop: everything of this connection happens there.
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if constexpr (std::is_same_v<Stream, TlsStream>) {
        beast::get_lowest_layer(self->stream_).expires_after(self->options_.idle_timeout);
        self->stream_.async_handshake(asio::ssl::stream_base::server, [self](error_code ec) {
          if (ec) return spdlog::debug("https: TLS handshake with {} failed: {}", self->remote(), ec.message());
          self->do_read();
        });
      } else {
        self->do_read();
      }
    });
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    beast::get_lowest_layer(stream_).expires_after(options_.idle_timeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

  void on_read(error_code ec, std::size_t) {
    started_ = std::chrono::steady_clock::now();
    note_request();
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
    if (ec) {
      spdlog::debug("http: bad request from {}: {}", remote(), ec.message());
      return send_error(400, "malformed HTTP request: " + ec.message());
    }

    auto& message = parser_->get();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    }
    request.request_id = request_id_;
    if (request.path() == "/media") {
      if (!beast::websocket::is_upgrade(message)) {
        return do_write(context_.gate.not_websocket(), false, message.version(), false);
      }
      if (auto refusal = context_.gate.check(request))
        return do_write(std::move(*refusal), false, message.version(), false);
      // The connection becomes a call: it keeps its socket and its loop. The call session
      // writes the 101 itself.
      log_access(101);
      beast::get_lowest_layer(stream_).expires_never();
      auto upgrade = parser_->release();
      upgrade.set("X-Request-Id", request_id_);  // the 101 carries it, as every other answer does
      return start_call_session(std::move(stream_), std::move(upgrade), context_.calls);
    }
    request.body = std::move(message.body());
    request.remote_address = remote_address();
    const bool keep_alive = message.keep_alive();
    const unsigned version = message.version();
    const bool head = message.method() == http::verb::head;

    router_.dispatch(request, [self = shared_from_this(), keep_alive, version, head](HttpResponse r) {
      // Handlers may answer from another loop (a store, a remote API): come back to ours.
      asio::dispatch(self->stream_.get_executor(), [self, r = std::move(r), keep_alive, version, head]() mutable {
        self->do_write(std::move(r), keep_alive, version, head);
      });
    });
  }

  void send_error(int status, const std::string& message) {
    do_write(HttpResponse::error(status, message), false, 11, false);
  }

  // The request's method, path (without its query: it may carry secrets) and id, for the access
  // line and the X-Request-Id header; from what the parser has, which may be nothing yet.
  void note_request() {
    method_ = "-";
    path_ = "-";
    std::string incoming;
    // Also when the header was refused after it was read (a body over the limit is refused as
    // soon as its Content-Length is seen): what was parsed is there.
    if (parser_) {
      const auto& message = parser_->get();
      if (!message.method_string().empty()) method_ = std::string(message.method_string());
      const auto target = std::string_view(message.target());
      if (!target.empty()) path_ = std::string(target.substr(0, std::min(target.find('?'), max_logged_path_bytes)));
      if (const auto it = message.find("X-Request-Id"); it != message.end()) incoming = std::string(it->value());
    }
    request_id_ = request_id_for(incoming);
  }

  // One line per request, when its answer is written: method, path, status, duration, id, peer.
  void log_access(int status) {
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_).count();
    nlohmann::ordered_json line;
    line["method"] = method_;
    line["path"] = path_;
    line["status"] = status;
    line["durationMs"] = static_cast<double>(micros) / 1000.0;
    line["requestId"] = request_id_;
    line["peer"] = remote();
    access_logger()->log(status >= 500 ? spdlog::level::warn : spdlog::level::info, "{}", dump_json(line));
  }

  void do_write(HttpResponse response, bool keep_alive, unsigned version, bool head) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(response.status), version);
    res->set(http::field::server, "callproxy");
    res->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) res->set(name, value);
    res->set("X-Request-Id", request_id_);
    log_access(response.status);
    res->keep_alive(keep_alive);
    res->body() = std::move(response.body);
    res->prepare_payload();
    if (head) res->body().clear();  // Content-Length stays that of the GET answer
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
    auto& socket = beast::get_lowest_layer(stream_).socket();
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
  }

  // The peer's address as the connection has it; an IPv4 client of a dual-stack socket as IPv4.
  std::string remote_address() const {
    error_code ec;
    const auto address = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec).address();
    if (ec) return {};
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
    }
    return address.to_string();
  }

  std::string remote() const {
    error_code ec;
    const auto endpoint = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    return ec ? std::string("?") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }

  Stream stream_;
  std::chrono::steady_clock::time_point started_{};
  std::string method_, path_, request_id_;  // the request being answered
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpContext& context_;
  const Router& router_;
  const HttpOptions& options_;
};

}  // namespace

void start_http_session(net::LoopSocket socket, const HttpContext& context) {
  if (context.tls) {
    std::make_shared<HttpSession<TlsStream>>(std::move(socket), context, *context.tls)->run();
  } else {
    std::make_shared<HttpSession<net::LoopTcpStream>>(std::move(socket), context)->run();
  }
}

}  // namespace callproxy::proxy
