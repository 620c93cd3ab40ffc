// Listener and HTTP sessions on Beast, in the style of Beast's advanced server example:
// one class per connection, do_x/on_x pairs, limits and timeouts stated where they apply.
#include <utility>  // before Asio: see BUILD-NOTES on <utility> and awaitable.hpp

#include "proxy/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <spdlog/spdlog.h>

#include <optional>
#include <stdexcept>

#include "net/event_loops.h"
#include "proxy/call_session.h"
#include "proxy/caller_routes.h"
#include "proxy/pin_directory.h"
#include "twilio/signature.h"

namespace callproxy::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;

// Checks a /media upgrade before the WebSocket handshake: the signature Twilio puts on it, and
// whether new calls are taken at all.
struct MediaGate {
  const ServeOptions& options;
  const ServeState& state;
  Metrics& metrics;
  std::optional<twilio::SignatureValidator> validator;

  // nullopt: let it in; otherwise the refusal to send.
  std::optional<HttpResponse> check(const http::request<http::string_body>& request) const {
    if (state.draining.load()) {
      metrics.handshake_rejections[Rejection::draining].add();
      return HttpResponse::error(503, "server is shutting down: not taking new calls");
    }
    if (!validator) return std::nullopt;
    const auto signature = request["X-Twilio-Signature"];
    if (signature.empty()) {
      metrics.handshake_rejections[Rejection::missing_signature].add();
      spdlog::warn("media: handshake without X-Twilio-Signature refused");
      return HttpResponse::error(400, "missing X-Twilio-Signature header");
    }
    const auto url = signed_url(request);
    if (validator->validate(signature, url, {}) != twilio::SignatureVerdict::valid) {
      metrics.handshake_rejections[Rejection::bad_signature].add();
      spdlog::warn("media: handshake with an invalid signature refused (signed URL checked: {})", url);
      return HttpResponse::error(403, "invalid X-Twilio-Signature");
    }
    return std::nullopt;
  }

  // wss://<Host><target> as Twilio signs it, or the configured public URL in front of the target.
  std::string signed_url(const http::request<http::string_body>& request) const {
    const std::string target(request.target());
    if (!options.public_url.empty()) {
      std::string base = options.public_url;
      while (!base.empty() && base.back() == '/') base.pop_back();
      return base + target;
    }
    return "wss://" + std::string(request[http::field::host]) + target;
  }
};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One HTTP connection, plain (beast::tcp_stream) or TLS (TlsStream, --tls-cert).
template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
  using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;

 public:
  template <class... TlsContext>
  HttpSession(tcp::socket&& socket, const Router& router, const ServeOptions& options, const MediaGate& gate,
              CallContext& calls, TlsContext&... tls)
      : stream_(std::move(socket), tls...), router_(router), options_(options), gate_(gate), calls_(calls) {}

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
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

  void on_read(error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
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
    const std::string_view path = message.target().substr(0, message.target().find('?'));
    if (path == "/media") {
      if (!beast::websocket::is_upgrade(message)) {
        gate_.metrics.handshake_rejections[Rejection::not_websocket].add();
        return do_write(HttpResponse::error(426, "/media takes a WebSocket upgrade (Twilio Media Streams)"), false,
                        message.version(), false);
      }
      if (auto refusal = gate_.check(message)) return do_write(std::move(*refusal), false, message.version(), false);
      // The connection becomes a call: it keeps its socket and its loop.
      beast::get_lowest_layer(stream_).expires_never();
      return start_call_session(std::move(stream_), parser_->release(), calls_);
    }

    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace(std::string(field.name_string()), std::string(field.value()));
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

  void send_error(int status, std::string message) {
    do_write(HttpResponse::error(status, message), false, 11, false);
  }

  void do_write(HttpResponse response, bool keep_alive, unsigned version, bool head) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), version);
    res->set(http::field::server, "callproxy");
    res->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) res->set(name, value);
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
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const Router& router_;
  const ServeOptions& options_;
  const MediaGate& gate_;
  CallContext& calls_;
};

std::unique_ptr<StateStore> open_store_flag(const std::string& text) {
  auto spec = parse_store_spec(text);
  if (!spec) throw std::invalid_argument(spec.error());
  auto store = open_store(spec.value());
  spdlog::info("state store: {}", store->describe());
  return store;
}

// --tls-cert/--tls-key: serve https:// and wss:// directly.
std::unique_ptr<asio::ssl::context> server_tls_context(const ServeOptions& options) {
  if (options.tls_cert.empty() && options.tls_key.empty()) return nullptr;
  if (options.tls_cert.empty() || options.tls_key.empty()) {
    throw std::invalid_argument("--tls-cert and --tls-key go together");
  }
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  error_code ec;
  context->use_certificate_chain_file(options.tls_cert, ec);
  if (ec) throw std::invalid_argument("--tls-cert '" + options.tls_cert + "': " + ec.message());
  context->use_private_key_file(options.tls_key, asio::ssl::context::pem, ec);
  if (ec) throw std::invalid_argument("--tls-key '" + options.tls_key + "': " + ec.message());
  return context;
}

std::unique_ptr<asio::ssl::context> backend_tls_context(const ServeOptions& options) {
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  // wss:// backends are verified against the system's CA store, plus --backend-ca.
  context->set_default_verify_paths();
  context->set_verify_mode(asio::ssl::verify_peer);
  if (!options.backend_ca.empty()) {
    error_code ec;
    context->load_verify_file(options.backend_ca, ec);
    if (ec) throw std::invalid_argument("--backend-ca '" + options.backend_ca + "': " + ec.message());
  }
  return context;
}

}  // namespace

struct Server::Impl {
  explicit Impl(ServeOptions o)
      : options(std::move(o)),
        store(open_store_flag(options.store)),
        backend_tls(backend_tls_context(options)),
        server_tls(server_tls_context(options)),
        gate{options, state, metrics, std::nullopt},
        calls{options, metrics, *store, registry, backend_tls.get()},
        pins(options.pins_file),
        budgets(options.pin_budget),
        callers{options, *store, pins, gate.validator, budgets, metrics},
        loops(options.threads),
        acceptor(loops.loop(0)),
        signals(loops.loop(0), SIGINT, SIGTERM, SIGHUP),
        drain_timer(loops.loop(0)) {
    if (options.validate_signatures) {
      if (options.auth_token.empty()) {
        throw std::invalid_argument("--validate-signatures needs the auth token (--auth-token or TWILIO_AUTH_TOKEN)");
      }
      gate.validator.emplace(options.auth_token);
    }
    if (!options.pin_api.empty()) {
      pin_api = std::make_unique<PinApi>(loops.loop(0), options.pin_api, options.pin_api_timeout);
      callers.pin_api = pin_api.get();
      spdlog::info("PINs the pins file does not know are checked with {}/identity-api/pin", options.pin_api);
    }
    if (pins.configured()) {
      spdlog::info("PINs: {} entr{} from {}", pins.size(), pins.size() == 1 ? "y" : "ies", options.pins_file);
    } else if (!pin_api) {
      spdlog::warn("no --pins-file and no --pin-api: every PIN is refused");
    }
  }

  ~Impl() {
    // The store goes first, while the (stopped) loops and everything its pending callbacks use
    // still exist; what they post to the stopped loops is simply discarded.
    loops.stop();
    store.reset();
  }

  void do_accept() {
    // Each new connection goes to the next loop and stays there.
    acceptor.async_accept(loops.next(), [this](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors or the like: try again shortly rather than spin.
        spdlog::warn("accept failed: {}", ec.message());
        accept_retry.expires_after(std::chrono::milliseconds(100));
        return accept_retry.async_wait([this](error_code ec) {
          if (!ec && acceptor.is_open()) do_accept();
        });
      } else {
        if (server_tls) {
          std::make_shared<HttpSession<TlsStream>>(std::move(socket), router, options, gate, calls, *server_tls)->run();
        } else {
          std::make_shared<HttpSession<beast::tcp_stream>>(std::move(socket), router, options, gate, calls)->run();
        }
      }
      if (acceptor.is_open()) do_accept();
    });
  }

  void do_wait_signal() {
    signals.async_wait([this](error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        // Reload the PINs; a bad file keeps the set in use.
        if (pins.configured()) {
          const auto loaded = pins.reload();
          if (loaded) spdlog::info("SIGHUP: {} PIN entries reloaded from {}", loaded.value(), options.pins_file);
          else spdlog::error("SIGHUP: {}; keeping the {} entries in use", loaded.error(), pins.size());
        }
        return do_wait_signal();
      }
      if (state.draining.exchange(true)) {
        spdlog::warn("second signal ({}): stopping now", signal);
        return finish();
      }
      spdlog::info("signal {}: draining (no new calls; up to {} ms for live calls)", signal,
                   options.drain_timeout.count());
      begin_drain();
      do_wait_signal();
    });
  }

  void begin_drain() {
    state.draining = true;
    drain_deadline = std::chrono::steady_clock::now() + options.drain_timeout;
    wait_for_calls();
  }

  // Polls the live calls (a drain is rare; 100 ms is plenty): done when none is left; at the
  // deadline the rest are closed with 1001 "server shutting down", and get 2 s to go.
  void wait_for_calls() {
    const auto live = registry.size();
    const auto now = std::chrono::steady_clock::now();
    // Calls that ended may still be handing their last audio and the stop to their backends.
    const auto links = metrics.links(LinkState::connecting).value() + metrics.links(LinkState::open).value() +
                       metrics.links(LinkState::reconnecting).value();
    if (live == 0 && (links == 0 || now >= drain_deadline + std::chrono::seconds(2))) return finish();
    if (now >= drain_deadline + std::chrono::seconds(2)) {
      spdlog::warn("drain: {} call{} did not end: stopping anyway", live, live == 1 ? "" : "s");
      return finish();
    }
    if (now >= drain_deadline && !calls_told_to_end) {
      calls_told_to_end = true;
      spdlog::warn("drain timeout: closing {} live call{}", live, live == 1 ? "" : "s");
      registry.shut_down_all();
    }
    drain_timer.expires_after(std::chrono::milliseconds(100));
    drain_timer.async_wait([this](error_code ec) {
      if (!ec) wait_for_calls();
    });
  }

  void finish() {
    error_code ignored;
    acceptor.close(ignored);
    signals.cancel(ignored);
    drain_timer.cancel();
    accept_retry.cancel();
    loops.stop();
  }

  ServeOptions options;
  ServeState state;
  Metrics metrics;
  CallRegistry registry;
  std::unique_ptr<StateStore> store;
  std::unique_ptr<asio::ssl::context> backend_tls;
  std::unique_ptr<asio::ssl::context> server_tls;
  MediaGate gate;
  CallContext calls;
  PinDirectory pins;
  PinFailureBudgets budgets;
  CallerApi callers;
  Router router;
  std::chrono::steady_clock::time_point drain_deadline{};
  bool calls_told_to_end = false;
  net::EventLoops loops;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  asio::steady_timer drain_timer;
  asio::steady_timer accept_retry{loops.loop(0)};
  std::unique_ptr<PinApi> pin_api;
};

Server::Server(ServeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  add_status_routes(impl_->router, impl_->state, impl_->metrics, *impl_->store);
  add_caller_routes(impl_->router, impl_->callers);
}

Server::~Server() = default;

Router& Server::router() { return impl_->router; }
ServeState& Server::state() { return impl_->state; }
Metrics& Server::metrics() { return impl_->metrics; }

std::uint16_t Server::listen() {
  error_code ec;
  const auto address = asio::ip::make_address(impl_->options.bind, ec);
  if (ec) throw std::runtime_error("--bind: '" + impl_->options.bind + "' is not an IP address");
  const tcp::endpoint endpoint{address, impl_->options.port};
  auto& acceptor = impl_->acceptor;
  const std::string where = impl_->options.bind + ":" + std::to_string(impl_->options.port);
  if (acceptor.open(endpoint.protocol(), ec); ec) throw std::runtime_error("cannot open socket for " + where + ": " + ec.message());
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec); ec) throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  }
  const auto port = acceptor.local_endpoint().port();
  spdlog::info("listening on {}:{} ({} event loop{}{})", impl_->options.bind, port, impl_->loops.size(),
               impl_->loops.size() == 1 ? "" : "s", impl_->server_tls ? ", TLS" : "");
  return port;
}

void Server::run() {
  impl_->do_accept();
  impl_->do_wait_signal();
  impl_->loops.run();
  spdlog::info("stopped");
}

void Server::stop() {
  asio::post(impl_->loops.loop(0), [impl = impl_.get()] {
    if (!impl->state.draining.exchange(true)) impl->begin_drain();
  });
}

}  // namespace callproxy::proxy
