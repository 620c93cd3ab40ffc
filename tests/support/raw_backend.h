// A backend that misbehaves on purpose, on raw POSIX sockets (BackendServer, on Beast, only knows
// how to behave): a listener that never accepts, a server that never answers the WebSocket
// handshake, one that never reads or reads slowly, one that closes in the middle of a frame or
// sends bytes that are not WebSocket. Loopback only. Each connection runs on its own thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace callproxy::test {

class RawBackend {
 public:
  // What a connection does once accepted.
  enum class Behaviour {
    normal,               // WebSocket handshake, then reads every frame (answers a close with a close)
    no_answer,            // reads the upgrade request and never answers it
    stall,                // handshake, then never reads (a small receive buffer)
    slow_reader,          // handshake, then reads 1 KiB every 50 ms (a small receive buffer)
    half_frame,           // handshake, then half of a text frame, then closes
    garbage,              // handshake, then bytes that are not WebSocket ("HTTP/1.1 200 OK ...")
    masked_frame,         // handshake, then a masked frame (servers must not mask)
    reserved_opcode,      // handshake, then a frame with opcode 3
    fragmented_control,   // handshake, then a ping without FIN
    invalid_utf8,         // handshake, then a text frame that is not UTF-8
    unasked_subprotocol,  // answers the handshake with a subprotocol serve never asked for, then reads
    fragment_flood,       // handshake, then empty fragments of a message that never ends, as fast as it can
    ping_flood,           // handshake, then empty pings as fast as it can (their pongs read and dropped)
  };

  // Connection i behaves as per_connection[i] (the last entry for every later one).
  explicit RawBackend(std::vector<Behaviour> per_connection);
  // A listener with backlog 0 that never accepts, its queue filled by connections of its own:
  // a connect to it never completes.
  static std::unique_ptr<RawBackend> never_accepting();
  ~RawBackend();
  RawBackend(const RawBackend&) = delete;
  RawBackend& operator=(const RawBackend&) = delete;

  unsigned short port() const;
  std::string host_port() const;  // "127.0.0.1:<port>"
  std::size_t connections() const;
  bool wait_for_connections(std::size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // Waits until the peer of connection `index` has closed it (EOF or error on read); connections
  // that never read see it only when they are torn down.
  bool wait_closed(std::size_t index = 0, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // The text and binary messages read on connection `index` so far, in order.
  std::vector<std::string> messages(std::size_t index = 0) const;
  // The close code the peer sent on connection `index`, if it sent a close frame.
  std::optional<int> close_code(std::size_t index = 0) const;

 private:
  RawBackend();
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace callproxy::test
