// The identity API client on Beast: one short-lived connection per check, bounded by a timeout
// over the whole exchange, with the response body capped.
#include <utility>  // before Asio: see BUILD-NOTES on <utility> and awaitable.hpp

#include "proxy/pin_api.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>

#include "twilio/json_limits.h"

namespace callproxy::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;
using nlohmann::json;

struct Endpoint {
  bool tls = false;
  std::string host, port, target;
};

// JSON list (or an already-encoded string) as the JSON-encoded string Studio expects.
std::string encoded_list(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) return v.dump();
  return "[]";
}

PinApiAnswer interpret(unsigned status, const std::string& body) {
  PinApiAnswer answer;
  if (status >= 400 && status < 500) {
    answer.outcome = PinApiAnswer::Outcome::rejected;
    return answer;
  }
  if (status < 200 || status >= 300) {
    answer.error = "identity API answered HTTP " + std::to_string(status);
    return answer;
  }
  const auto bounded = twilio::parse_json_bounded(body);
  if (!bounded || !bounded.value().is_object() || !bounded.value().contains("authenticated") ||
      !bounded.value()["authenticated"].is_boolean()) {
    answer.error = "identity API answered something that is not {\"authenticated\": …}";
    return answer;
  }
  const json& parsed = bounded.value();
  if (!parsed["authenticated"].get<bool>()) {
    answer.outcome = PinApiAnswer::Outcome::rejected;
    return answer;
  }
  answer.outcome = PinApiAnswer::Outcome::authenticated;
  answer.backend_ids = encoded_list(parsed.value("backendIds", json::array()));
  answer.backend_hosts = encoded_list(parsed.value("backendHosts", json::array()));
  return answer;
}

template <class Stream>
class Exchange : public std::enable_shared_from_this<Exchange<Stream>> {
 public:
  Exchange(Stream stream, asio::io_context& loop, const Endpoint& endpoint, std::chrono::milliseconds timeout,
           std::string body, std::function<void(PinApiAnswer)> done)
      : stream_(std::move(stream)), resolver_(loop), endpoint_(endpoint), timeout_(timeout), done_(std::move(done)) {
    request_.method(http::verb::post);
    request_.target(endpoint_.target);
    request_.version(11);
    const bool default_port = endpoint_.port == (endpoint_.tls ? "443" : "80");
    const auto host = endpoint_.host.find(':') != std::string::npos ? "[" + endpoint_.host + "]" : endpoint_.host;
    request_.set(http::field::host, default_port ? host : host + ":" + endpoint_.port);
    request_.set(http::field::user_agent, "callproxy");
    request_.set(http::field::content_type, "application/json");
    request_.body() = std::move(body);
    request_.prepare_payload();
    parser_.body_limit(64 * 1024);
  }

  void start() {
    beast::get_lowest_layer(stream_).expires_after(timeout_);
    resolver_.async_resolve(endpoint_.host, endpoint_.port, [self = this->shared_from_this()](error_code ec, auto results) {
      if (ec) return self->fail("cannot resolve the identity API: " + ec.message());
      beast::get_lowest_layer(self->stream_).async_connect(results, [self](error_code ec, const tcp::endpoint&) {
        if (ec) return self->fail("cannot reach the identity API: " + ec.message());
        self->after_connect();
      });
    });
  }

 private:
  void after_connect() {
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      SSL_set_tlsext_host_name(stream_.native_handle(), endpoint_.host.c_str());
      stream_.set_verify_callback(asio::ssl::host_name_verification(endpoint_.host));
      stream_.async_handshake(asio::ssl::stream_base::client, [self = this->shared_from_this()](error_code ec) {
        if (ec) return self->fail("TLS with the identity API failed: " + ec.message());
        self->do_write();
      });
    } else {
      do_write();
    }
  }

  void do_write() {
    http::async_write(stream_, request_, [self = this->shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->fail("identity API: " + ec.message());
      http::async_read(self->stream_, self->buffer_, self->parser_, [self](error_code ec, std::size_t) {
        if (ec == beast::error::timeout) return self->fail("identity API did not answer in time");
        if (ec) return self->fail("identity API: " + ec.message());
        self->finish(interpret(self->parser_.get().result_int(), self->parser_.get().body()));
      });
    });
  }

  void fail(std::string why) {
    PinApiAnswer answer;
    answer.error = std::move(why);
    if (answer.error.find("timeout") != std::string::npos || answer.error.find("timed out") != std::string::npos) {
      answer.error = "identity API did not answer in time";
    }
    finish(std::move(answer));
  }

  void finish(PinApiAnswer answer) {
    error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
    if (auto done = std::exchange(done_, nullptr)) done(std::move(answer));
  }

  Stream stream_;
  tcp::resolver resolver_;
  Endpoint endpoint_;
  std::chrono::milliseconds timeout_;
  std::function<void(PinApiAnswer)> done_;
  http::request<http::string_body> request_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buffer_;
};

}  // namespace

struct PinApi::Impl {
  asio::io_context& loop;
  std::string url;
  Endpoint endpoint;
  std::chrono::milliseconds timeout;
  asio::ssl::context tls{asio::ssl::context::tls_client};
};

PinApi::PinApi(asio::io_context& loop, const std::string& base_url, std::chrono::milliseconds timeout)
    : impl_(std::make_shared<Impl>(Impl{loop, base_url, {}, timeout})) {
  const auto parsed = boost::urls::parse_uri(base_url);
  if (!parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") || parsed->host_address().empty()) {
    throw std::invalid_argument("--pin-api '" + base_url + "': expected an http:// or https:// URL");
  }
  auto& e = impl_->endpoint;
  e.tls = parsed->scheme() == "https";
  e.host = std::string(parsed->host_address());
  e.port = parsed->has_port() ? std::string(parsed->port()) : (e.tls ? "443" : "80");
  std::string path(parsed->encoded_path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  e.target = path + "/identity-api/pin";
  impl_->tls.set_default_verify_paths();
  impl_->tls.set_verify_mode(asio::ssl::verify_peer);
}

PinApi::~PinApi() = default;

const std::string& PinApi::url() const { return impl_->url; }

void PinApi::check(const std::string& pin, std::function<void(PinApiAnswer)> done) {
  auto body = json{{"pin", pin}}.dump(-1, ' ', false, json::error_handler_t::replace);
  // The exchange keeps the Impl (endpoint, TLS context) alive until it is done.
  auto wrapped = [impl = impl_, done = std::move(done)](PinApiAnswer a) { done(std::move(a)); };
  if (impl_->endpoint.tls) {
    std::make_shared<Exchange<beast::ssl_stream<beast::tcp_stream>>>(
        beast::ssl_stream<beast::tcp_stream>(impl_->loop, impl_->tls), impl_->loop, impl_->endpoint, impl_->timeout,
        std::move(body), std::move(wrapped))->start();
  } else {
    std::make_shared<Exchange<beast::tcp_stream>>(beast::tcp_stream(impl_->loop), impl_->loop, impl_->endpoint,
                                                  impl_->timeout, std::move(body), std::move(wrapped))->start();
  }
}

}  // namespace callproxy::proxy
