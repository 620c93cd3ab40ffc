// Attackers for the fairness row (bench/README.md, issue 21): peers that flood the target's
// WebSocket with tiny frames, and a prober that times /healthz meanwhile. Each runs on threads
// of its own, beside the driver's single-threaded loop, loopback only.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace callproxy::bench {

enum class FloodKind { fragments, pings };

class Flood {
 public:
  // `peers` connections to 127.0.0.1:`port``path`, each sending `kind` as fast as the target
  // reads it, and connecting again whenever the target closes it; /healthz every 50 ms.
  Flood(std::uint16_t port, std::string path, FloodKind kind, int peers);
  ~Flood();  // stops and joins
  Flood(const Flood&) = delete;
  Flood& operator=(const Flood&) = delete;

  std::uint64_t connections() const { return connections_.load(); }
  std::uint64_t closed() const { return closed_.load(); }  // connections the target ended
  double worst_healthz_ms() const { return worst_healthz_us_.load() / 1e3; }
  std::uint64_t healthz_unanswered() const { return healthz_unanswered_.load(); }

 private:
  void flood(FloodKind kind);
  void probe();

  std::uint16_t port_;
  std::string path_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> connections_{0}, closed_{0}, worst_healthz_us_{0}, healthz_unanswered_{0};
  std::vector<std::thread> threads_;
};

}  // namespace callproxy::bench
