// Floods of tiny WebSocket frames as an attacker sends them (issue 21): empty fragments of a
// message that never ends, or pings whose pongs are read and dropped. From a Twilio-side client
// (masked, reconnecting whenever serve closes it) and from a backend (RawBackend) alike. Raw
// POSIX sockets, loopback only.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

namespace callproxy::test {

enum class FloodKind { fragments, pings };

// Floods the WebSocket on connected socket `fd` (its handshake done) until the peer closes it
// or `stop` is set, reading and dropping what comes back; `masked` as a client sends. Returns
// the code of the close frame the peer sent (1005 for one without a code, 0 for none).
int flood(int fd, FloodKind kind, bool masked, const std::atomic<bool>& stop);

// `count` peers flooding serve's /media on 127.0.0.1:`port`, each on its own thread, each
// connecting again when serve closes it, until destroyed.
class MediaFlooders {
 public:
  MediaFlooders(unsigned short port, FloodKind kind, std::size_t count);
  ~MediaFlooders();
  MediaFlooders(const MediaFlooders&) = delete;
  MediaFlooders& operator=(const MediaFlooders&) = delete;

  void stop();                                // every flooder stops and closes its connection
  std::size_t connections() const;            // handshakes that succeeded so far
  std::map<int, std::size_t> closes() const;  // close code -> how many connections serve closed with it

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace callproxy::test
