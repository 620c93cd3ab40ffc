// The identity API client on Beast: one short-lived connection per check, bounded by a timeout
// over the whole exchange, with the response body capped.

#include "proxy/callers/pin_api.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>

#include "core/json_text.h"
#include "net/asio_names.h"
#include "net/client_connect.h"
#include "net/endpoint.h"
#include "net/tls_context.h"
#include "twilio/json_limits.h"

namespace callproxy::proxy {
namespace {

using nlohmann::json;

using net::Endpoint;

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
  Exchange(Stream stream, Endpoint endpoint, std::chrono::milliseconds timeout, std::string body,
           std::function<void(PinApiAnswer)> done)
      : stream_(std::move(stream)), endpoint_(std::move(endpoint)), timeout_(timeout), done_(std::move(done)) {
    request_.method(http::verb::post);
    request_.target(endpoint_.target);
    request_.version(11);
    request_.set(http::field::host, endpoint_.authority());
    request_.set(http::field::user_agent, "callproxy");
    request_.set(http::field::content_type, "application/json");
    request_.body() = std::move(body);
    request_.prepare_payload();
    parser_.body_limit(64 * 1024);
  }

  void start() {
    // One timeout over the whole exchange: connecting, then writing and reading.
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    net::async_connect_client(stream_, endpoint_, timeout_, nullptr,
                              [self = this->shared_from_this(), deadline](std::optional<net::ConnectFailure> failure) {
                                if (failure) return self->fail("identity API: " + failure->message);
                                beast::get_lowest_layer(self->stream_).expires_at(deadline);
                                self->do_write();
                              });
  }

 private:
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
  Endpoint endpoint;
  std::chrono::milliseconds timeout;
  std::shared_ptr<asio::ssl::context> tls;
};

PinApi::PinApi(asio::io_context& loop, const std::string& base_url, std::chrono::milliseconds timeout)
    : impl_(std::make_shared<Impl>(Impl{loop, {}, timeout, nullptr})) {
  auto parsed = net::parse_url(base_url, net::UrlScheme::http);
  if (!parsed) throw std::invalid_argument("--pin-api '" + base_url + "': expected an http:// or https:// URL");
  auto& e = impl_->endpoint;
  e = std::move(parsed.value());
  // The API lives at <base>/identity-api/pin; the base's query, if any, is not ours to keep.
  std::string path = e.target.substr(0, e.target.find('?'));
  while (!path.empty() && path.back() == '/') path.pop_back();
  e.target = path + "/identity-api/pin";
  if (e.tls) impl_->tls = net::make_client_tls_context();
}

PinApi::~PinApi() = default;

void PinApi::check(const std::string& pin, std::function<void(PinApiAnswer)> done) {
  auto body = dump_json(json{{"pin", pin}});
  // The exchange keeps the Impl (endpoint, TLS context) alive until it is done.
  auto wrapped = [impl = impl_, done = std::move(done)](PinApiAnswer a) { done(std::move(a)); };
  if (impl_->endpoint.tls) {
    std::make_shared<Exchange<beast::ssl_stream<beast::tcp_stream>>>(
        beast::ssl_stream<beast::tcp_stream>(impl_->loop, *impl_->tls), impl_->endpoint, impl_->timeout,
        std::move(body), std::move(wrapped))
        ->start();
  } else {
    std::make_shared<Exchange<beast::tcp_stream>>(beast::tcp_stream(impl_->loop), impl_->endpoint, impl_->timeout,
                                                  std::move(body), std::move(wrapped))
        ->start();
  }
}

}  // namespace callproxy::proxy
