// The `serve` process wired together: its state store, event loops, listener, HTTP routes and
// /media endpoint, SIGHUP's reload (the live settings, the PINs) and the drain on SIGTERM/SIGINT.
#pragma once

#include <cstdint>
#include <memory>

#include "proxy/serve_options.h"

namespace callproxy::proxy {

class Server {
 public:
  // Throws std::invalid_argument for options that cannot work together, naming them.
  explicit Server(ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; throws std::runtime_error naming the address when it cannot.
  // Returns the port actually bound (useful with port 0).
  std::uint16_t listen();

  // SIGHUP re-reads the settings with `read` (off the loops) and applies those that can change
  // live (is_live_setting), logging each change; without it, SIGHUP reloads the pins file only.
  // Call before run().
  void reload_settings_with(ReadSettings read);

  // Serves until a drain ends (SIGTERM/SIGINT, or stop()). Returns when every loop is done.
  void run();

  // Starts the drain from any thread: new work is refused and the process winds down.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace callproxy::proxy
