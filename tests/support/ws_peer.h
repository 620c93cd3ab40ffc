// WebSocket peers for integration tests, free of Beast in this header: a client that plays
// Twilio's side of a call, and a backend server that records what it receives. Each runs its
// own event loop on a background thread; the calls here block with timeouts.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace callproxy::test {

using namespace std::chrono_literals;

struct HandshakeRefused : std::runtime_error {
  HandshakeRefused(int s, std::string b)
      : std::runtime_error("handshake refused with HTTP " + std::to_string(s) + ": " + b),
        status(s),
        body(std::move(b)) {}
  int status;
  std::string body;
};

class WsClient {
 public:
  // Connects to 127.0.0.1:port and upgrades; throws HandshakeRefused when the server answers
  // the upgrade with an HTTP error, std::runtime_error for anything else.
  enum class Reading { on, off };  // off: never reads, so never answers a ping
  WsClient(unsigned short port, const std::string& target = "/media",
           const std::map<std::string, std::string>& headers = {}, Reading reading = Reading::on);
  ~WsClient();

  void send_text(const std::string& text);
  void send_binary(const std::string& bytes);
  // A header of the server's 101 answer ("" when absent), as the server spelled its name.
  std::string response_header(const std::string& name) const;
  // The next message received, or nullopt after `timeout` or once the stream is closed.
  std::optional<std::string> receive(std::chrono::milliseconds timeout = 5s);
  // Waits until the server closes the stream; true if it did within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout = 10s);
  int close_code() const;  // 0 until closed with a code
  std::size_t pings_received() const;
  // A client made with Reading::off starts reading now (at most once; no-op for Reading::on).
  void start_reading();
  unsigned short local_port() const;  // this end's TCP port
  void reset();                       // ends the connection with a TCP reset, no close handshake
  std::string close_reason() const;
  void close();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

class BackendServer {
 public:
  enum class Mode { normal, stall };  // stall: accepts, then never reads
  explicit BackendServer(Mode mode = Mode::normal);
  // The same on a Unix socket at `socket_path` (created, and removed at the end); port() is 0.
  explicit BackendServer(const std::string& socket_path, Mode mode = Mode::normal);
  ~BackendServer();

  unsigned short port() const;
  std::string host_port() const;  // "127.0.0.1:<port>"
  std::size_t connections() const;
  // Messages received on connection `index` (in order of connection), text as sent.
  std::vector<std::string> messages(std::size_t index = 0) const;
  // Waits until connection `index` exists and has received at least `count` messages.
  bool wait_for_messages(std::size_t count, std::size_t index = 0, std::chrono::milliseconds timeout = 10s) const;
  bool wait_for_connections(std::size_t count, std::chrono::milliseconds timeout = 10s) const;
  // Waits until connection `index` was closed (by either side).
  bool wait_closed(std::size_t index = 0, std::chrono::milliseconds timeout = 10s) const;
  void send_text(const std::string& text, std::size_t index = 0);
  void send_binary(const std::string& bytes, std::size_t index = 0);
  // For each message of messages(index): whether it came as a binary message.
  std::vector<bool> binary_messages(std::size_t index = 0) const;
  // For each message of messages(index): when it was read (steady clock).
  std::vector<std::chrono::steady_clock::time_point> arrival_times(std::size_t index = 0) const;
  // Drops connection `index` without a close handshake.
  void kill(std::size_t index = 0);
  // Stops accepting and drops every connection (the port is then closed).
  void shut_down();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// A wss:// backend (TLS with the given certificate) that records the messages of its first
// connection.
class TlsBackendServer {
 public:
  TlsBackendServer(const std::string& cert_file, const std::string& key_file);
  ~TlsBackendServer();
  unsigned short port() const;
  std::vector<std::string> messages() const;
  bool wait_for_messages(std::size_t count, std::chrono::milliseconds timeout = 10s) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace callproxy::test
