// The one Beast translation unit of the tests.

#include "support/ws_peer.h"

#include "net/asio_names.h"
#include "net/loop_thread.h"
#include "support/test_secrets.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include <unistd.h>

namespace callproxy::test {
namespace {

// An io_context on its own thread, stopped and joined on destruction.
struct LoopThread {
  net::LoopThread thread;
  asio::io_context& context = thread.loop();
  template <class F>
  void run_and_wait(F f) {
    std::promise<void> done;
    asio::post(context, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }
};

// Messages one side of a WebSocket received, for a test thread to wait on.
struct Inbox {
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::deque<std::string> pending;
  std::vector<std::string> all;
  std::vector<bool> binary;                                    // all[i] came as a binary message
  std::vector<std::chrono::steady_clock::time_point> arrived;  // when all[i] was read
  bool closed = false;
  int close_code = 0;
  std::string close_reason;

  void push(std::string text, bool was_binary = false) {
    std::lock_guard lock(mutex);
    pending.push_back(text);
    all.push_back(std::move(text));
    binary.push_back(was_binary);
    arrived.push_back(std::chrono::steady_clock::now());
    changed.notify_all();
  }
  void close(int code, std::string reason) {
    std::lock_guard lock(mutex);
    if (closed) return;
    closed = true;
    close_code = code;
    close_reason = std::move(reason);
    changed.notify_all();
  }
};

// A WebSocket with an async read loop into an Inbox and a write queue: over TCP, or (servers)
// over a socket of any family, a Unix socket included.
template <class Derived, class Protocol = tcp>
struct Endpoint : std::enable_shared_from_this<Derived> {
  explicit Endpoint(typename Protocol::socket socket) : ws(std::move(socket)) {}
  explicit Endpoint(asio::io_context& context) : ws(context) {}

  websocket::stream<beast::basic_stream<Protocol>> ws;
  beast::flat_buffer buffer;
  Inbox inbox;
  std::deque<std::pair<std::string, bool>> outgoing;
  bool writing = false;
  std::atomic<std::size_t> pings{0};  // ping frames read (each answered with a pong by Beast)

  void count_pings() {
    ws.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::ping) ++pings;
    });
  }

  void do_read() {
    ws.async_read(buffer, [self = this->shared_from_this()](error_code ec, std::size_t) {
      if (ec) {
        const auto reason = self->ws.reason();
        // A close frame received counts even if echoing it failed (the peer may have gone).
        const bool got_close = ec == websocket::error::closed || reason.code != websocket::close_code::none;
        self->inbox.close(
            got_close ? static_cast<int>(reason.code) : -1,
            got_close ? std::string(reason.reason.data(), reason.reason.size()) : "error: " + ec.message());
        return;
      }
      self->inbox.push(beast::buffers_to_string(self->buffer.data()), !self->ws.got_text());
      self->buffer.consume(self->buffer.size());
      self->do_read();
    });
  }

  void write(std::string text, bool binary) {
    outgoing.emplace_back(std::move(text), binary);
    do_write();
  }

  void do_write() {
    if (writing || outgoing.empty()) return;
    writing = true;
    ws.binary(outgoing.front().second);
    ws.async_write(asio::buffer(outgoing.front().first), [self = this->shared_from_this()](error_code ec, std::size_t) {
      self->writing = false;
      self->outgoing.pop_front();
      if (!ec) self->do_write();
    });
  }

  // Ends the connection with a TCP reset (SO_LINGER 0), as a peer that crashed or a middlebox does.
  void reset() {
    error_code ignored;
    auto& socket = beast::get_lowest_layer(ws).socket();
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
    inbox.close(-1, "reset");
  }

  void kill() {
    error_code ignored;
    beast::get_lowest_layer(ws).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws).socket().close(ignored);
    inbox.close(-1, "killed");
  }
};

struct ClientEndpoint : Endpoint<ClientEndpoint> {
  using Endpoint::Endpoint;
};
struct ServerEndpoint : Endpoint<ServerEndpoint, asio::generic::stream_protocol> {
  using Endpoint::Endpoint;
};

}  // namespace

// ---- WsClient ------------------------------------------------------------------------

struct WsClient::Impl {
  LoopThread loop;
  std::shared_ptr<ClientEndpoint> endpoint = std::make_shared<ClientEndpoint>(loop.context);
  std::map<std::string, std::string> response_headers;  // of the 101
  std::atomic<bool> reading{false};
  unsigned short local_port = 0;
};

std::string WsClient::response_header(const std::string& name) const {
  const auto it = impl_->response_headers.find(name);
  return it == impl_->response_headers.end() ? std::string() : it->second;
}

WsClient::WsClient(unsigned short port, const std::string& target, const std::map<std::string, std::string>& headers,
                   Reading reading)
    : impl_(std::make_shared<Impl>()) {
  auto& ws = impl_->endpoint->ws;
  error_code ec;
  beast::get_lowest_layer(ws).socket().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) throw std::runtime_error("connect to port " + std::to_string(port) + ": " + ec.message());
  impl_->local_port = beast::get_lowest_layer(ws).socket().local_endpoint().port();
  secrets::remember_headers(headers);
  ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [name, value] : headers) req.set(name, value);
  }));
  ws.read_message_max(64 << 20);
  websocket::response_type response;
  ws.handshake(response, "127.0.0.1:" + std::to_string(port), target, ec);
  if (ec == websocket::error::upgrade_declined) {
    throw HandshakeRefused(static_cast<int>(response.result_int()), response.body());
  }
  if (ec) throw std::runtime_error("WebSocket handshake: " + ec.message());
  for (const auto& field : response) impl_->response_headers[std::string(field.name_string())] = field.value();
  impl_->endpoint->count_pings();
  // Not reading: nothing is received, and pings go unanswered (Beast answers them in a read).
  if (reading == Reading::on) start_reading();
}

void WsClient::start_reading() {
  if (impl_->reading.exchange(true)) return;
  asio::post(impl_->loop.context, [e = impl_->endpoint] { e->do_read(); });
}

unsigned short WsClient::local_port() const { return impl_->local_port; }

void WsClient::reset() {
  impl_->loop.run_and_wait([e = impl_->endpoint] { e->reset(); });
}

std::size_t WsClient::pings_received() const { return impl_->endpoint->pings.load(); }

WsClient::~WsClient() {
  impl_->loop.run_and_wait([e = impl_->endpoint] { e->kill(); });
}

void WsClient::send_text(const std::string& text) {
  asio::post(impl_->loop.context, [e = impl_->endpoint, text] { e->write(text, false); });
}

void WsClient::send_binary(const std::string& bytes) {
  asio::post(impl_->loop.context, [e = impl_->endpoint, bytes] { e->write(bytes, true); });
}

std::optional<std::string> WsClient::receive(std::chrono::milliseconds timeout) {
  auto& inbox = impl_->endpoint->inbox;
  std::unique_lock lock(inbox.mutex);
  inbox.changed.wait_for(lock, timeout, [&] { return !inbox.pending.empty() || inbox.closed; });
  if (inbox.pending.empty()) return std::nullopt;
  auto text = std::move(inbox.pending.front());
  inbox.pending.pop_front();
  return text;
}

bool WsClient::wait_closed(std::chrono::milliseconds timeout) {
  auto& inbox = impl_->endpoint->inbox;
  std::unique_lock lock(inbox.mutex);
  return inbox.changed.wait_for(lock, timeout, [&] { return inbox.closed; });
}

int WsClient::close_code() const {
  std::lock_guard lock(impl_->endpoint->inbox.mutex);
  return impl_->endpoint->inbox.close_code;
}

std::string WsClient::close_reason() const {
  std::lock_guard lock(impl_->endpoint->inbox.mutex);
  return impl_->endpoint->inbox.close_reason;
}

void WsClient::close() {
  asio::post(impl_->loop.context,
             [e = impl_->endpoint] { e->ws.async_close(websocket::close_code::normal, [e](error_code) {}); });
  wait_closed(5s);
}

// ---- BackendServer -------------------------------------------------------------------

struct BackendServer::Impl {
  explicit Impl(Mode m) : mode(m), acceptor(loop.context), local_acceptor(loop.context) {}

  void do_accept() {
    if (local_acceptor.is_open()) {
      local_acceptor.async_accept([this](error_code ec, asio::local::stream_protocol::socket socket) {
        if (ec) return;
        accepted(asio::generic::stream_protocol::socket(std::move(socket)));
      });
      return;
    }
    acceptor.async_accept([this](error_code ec, tcp::socket socket) {
      if (ec) return;
      accepted(asio::generic::stream_protocol::socket(std::move(socket)));
    });
  }

  void accepted(asio::generic::stream_protocol::socket socket) {
    {
      auto endpoint = std::make_shared<ServerEndpoint>(std::move(socket));
      {
        std::lock_guard lock(mutex);
        endpoints.push_back(endpoint);
      }
      changed.notify_all();
      endpoint->ws.read_message_max(64 << 20);
      endpoint->ws.async_accept([this, endpoint](error_code ec) {
        if (ec) return endpoint->inbox.close(-1, ec.message());
        if (mode == Mode::normal) endpoint->do_read();
      });
      do_accept();
    }
  }

  std::shared_ptr<ServerEndpoint> endpoint(std::size_t index) const {
    std::lock_guard lock(mutex);
    return index < endpoints.size() ? endpoints[index] : nullptr;
  }

  Mode mode;
  LoopThread loop;
  tcp::acceptor acceptor;
  asio::local::stream_protocol::acceptor local_acceptor;  // a Unix socket's server, else closed
  std::string socket_path;
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::vector<std::shared_ptr<ServerEndpoint>> endpoints;
  unsigned short port = 0;
};

BackendServer::BackendServer(Mode mode) : impl_(std::make_shared<Impl>(mode)) {
  auto& acceptor = impl_->acceptor;
  const tcp::endpoint where{asio::ip::make_address("127.0.0.1"), 0};
  acceptor.open(where.protocol());
  if (mode == Mode::stall) {
    // A small window fills fast, so the proxy's own queue is what grows.
    acceptor.set_option(asio::socket_base::receive_buffer_size(4096));
  }
  acceptor.bind(where);
  acceptor.listen();
  impl_->port = acceptor.local_endpoint().port();
  impl_->loop.run_and_wait([this] { impl_->do_accept(); });
}

BackendServer::BackendServer(const std::string& socket_path, Mode mode) : impl_(std::make_shared<Impl>(mode)) {
  impl_->socket_path = socket_path;
  ::unlink(socket_path.c_str());
  const asio::local::stream_protocol::endpoint where(socket_path);
  impl_->local_acceptor.open(where.protocol());
  impl_->local_acceptor.bind(where);
  impl_->local_acceptor.listen();
  impl_->loop.run_and_wait([this] { impl_->do_accept(); });
}

BackendServer::~BackendServer() {
  shut_down();
  if (!impl_->socket_path.empty()) ::unlink(impl_->socket_path.c_str());
}

unsigned short BackendServer::port() const { return impl_->port; }
std::string BackendServer::host_port() const { return "127.0.0.1:" + std::to_string(impl_->port); }

std::size_t BackendServer::connections() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->endpoints.size();
}

std::vector<std::string> BackendServer::messages(std::size_t index) const {
  const auto endpoint = impl_->endpoint(index);
  if (!endpoint) return {};
  std::lock_guard lock(endpoint->inbox.mutex);
  return endpoint->inbox.all;
}

bool BackendServer::wait_for_connections(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->endpoints.size() >= count; });
}

bool BackendServer::wait_for_messages(std::size_t count, std::size_t index, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!wait_for_connections(index + 1, timeout)) return false;
  const auto endpoint = impl_->endpoint(index);
  std::unique_lock lock(endpoint->inbox.mutex);
  return endpoint->inbox.changed.wait_until(lock, deadline, [&] { return endpoint->inbox.all.size() >= count; });
}

bool BackendServer::wait_closed(std::size_t index, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!wait_for_connections(index + 1, timeout)) return false;
  const auto endpoint = impl_->endpoint(index);
  std::unique_lock lock(endpoint->inbox.mutex);
  return endpoint->inbox.changed.wait_until(lock, deadline, [&] { return endpoint->inbox.closed; });
}

void BackendServer::send_text(const std::string& text, std::size_t index) {
  const auto endpoint = impl_->endpoint(index);
  if (!endpoint) throw std::runtime_error("no backend connection " + std::to_string(index));
  asio::post(impl_->loop.context, [endpoint, text] { endpoint->write(text, false); });
}

std::vector<bool> BackendServer::binary_messages(std::size_t index) const {
  const auto endpoint = impl_->endpoint(index);
  if (!endpoint) return {};
  std::lock_guard lock(endpoint->inbox.mutex);
  return endpoint->inbox.binary;
}

std::vector<std::chrono::steady_clock::time_point> BackendServer::arrival_times(std::size_t index) const {
  const auto endpoint = impl_->endpoint(index);
  if (!endpoint) return {};
  std::lock_guard lock(endpoint->inbox.mutex);
  return endpoint->inbox.arrived;
}

void BackendServer::send_binary(const std::string& bytes, std::size_t index) {
  const auto endpoint = impl_->endpoint(index);
  if (!endpoint) throw std::runtime_error("no backend connection " + std::to_string(index));
  asio::post(impl_->loop.context, [endpoint, bytes] { endpoint->write(bytes, true); });
}

void BackendServer::kill(std::size_t index) {
  const auto endpoint = impl_->endpoint(index);
  if (!endpoint) throw std::runtime_error("no backend connection " + std::to_string(index));
  impl_->loop.run_and_wait([endpoint] { endpoint->kill(); });
}

void BackendServer::shut_down() {
  impl_->loop.run_and_wait([this] {
    error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->local_acceptor.close(ignored);
    std::lock_guard lock(impl_->mutex);
    for (auto& endpoint : impl_->endpoints) endpoint->kill();
  });
}

// ---- TlsBackendServer ----------------------------------------------------------------

struct TlsBackendServer::Impl {
  Impl() : tls(asio::ssl::context::tls_server), acceptor(loop.context) {}

  void do_read() {
    ws->async_read(buffer, [this](error_code ec, std::size_t) {
      if (ec) return inbox.close(-1, ec.message());
      inbox.push(beast::buffers_to_string(buffer.data()));
      buffer.consume(buffer.size());
      do_read();
    });
  }

  asio::ssl::context tls;
  LoopThread loop;
  tcp::acceptor acceptor;
  std::optional<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> ws;
  beast::flat_buffer buffer;
  Inbox inbox;
  unsigned short port = 0;
};

TlsBackendServer::TlsBackendServer(const std::string& cert_file, const std::string& key_file)
    : impl_(std::make_shared<Impl>()) {
  impl_->tls.use_certificate_chain_file(cert_file);
  impl_->tls.use_private_key_file(key_file, asio::ssl::context::pem);
  const tcp::endpoint where{asio::ip::make_address("127.0.0.1"), 0};
  impl_->acceptor.open(where.protocol());
  impl_->acceptor.bind(where);
  impl_->acceptor.listen();
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->loop.run_and_wait([impl = impl_.get()] {
    impl->acceptor.async_accept([impl](error_code ec, tcp::socket socket) {
      if (ec) return;
      impl->ws.emplace(std::move(socket), impl->tls);
      impl->ws->next_layer().async_handshake(asio::ssl::stream_base::server, [impl](error_code ec) {
        if (ec) return impl->inbox.close(-1, "TLS: " + ec.message());
        impl->ws->async_accept([impl](error_code ec) {
          if (ec) return impl->inbox.close(-1, ec.message());
          impl->do_read();
        });
      });
    });
  });
}

TlsBackendServer::~TlsBackendServer() {
  impl_->loop.run_and_wait([impl = impl_.get()] {
    error_code ignored;
    impl->acceptor.close(ignored);
    if (impl->ws) beast::get_lowest_layer(*impl->ws).socket().close(ignored);
  });
}

unsigned short TlsBackendServer::port() const { return impl_->port; }

std::vector<std::string> TlsBackendServer::messages() const {
  std::lock_guard lock(impl_->inbox.mutex);
  return impl_->inbox.all;
}

bool TlsBackendServer::wait_for_messages(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->inbox.mutex);
  return impl_->inbox.changed.wait_for(lock, timeout, [&] { return impl_->inbox.all.size() >= count; });
}

}  // namespace callproxy::test
