// Counters serve exposes on GET /metrics (Prometheus text format). Lock-free: every counter is a
// relaxed atomic. Each event loop's media path counts into its own shard (ServerMetrics), so
// no two loops write the same cache line per frame; a scrape sums the shards.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace callproxy::proxy {

enum class DropReason : std::size_t {
  backend_lag,
  backend_down,
  before_start,
  twilio_lag,
  invalid_payload,  // not canonical base64 of at least one byte
  frame_too_large,  // over --max-frame-bytes
  count
};
// Streams serve closed itself (1008), by reason.
enum class StreamRefusal : std::size_t { no_start, too_many_backends, no_backend, stream_token, count };
enum class Rejection : std::size_t { missing_signature, bad_signature, draining, not_websocket, call_limit, count };
enum class ParseSource : std::size_t { twilio, backend, count };
enum class LinkState : std::size_t { connecting, open, reconnecting, count };
enum class RefusedBackend : std::size_t { not_allowed, invalid, count };
enum class PinBudget : std::size_t { global, source, count };  // failed-PIN budgets (pin_budget.h)
// A bot's control messages (twilio/call_control.h): decisions kept for the call, by kind, and
// those refused, by reason (a transfer --transfer-allow does not allow, a malformed message, a
// second decision, a store that could not keep it).
enum class Decision : std::size_t { hangup, transfer, end, count };
enum class DecisionRefusal : std::size_t { not_allowed, invalid, repeated, store_error, count };
// What the flow's after-stream route answered (docs/call-control.md).
enum class AfterStream : std::size_t {
  hangup,            // the bot's hangup
  transfer,          // the bot's transfer: <Dial>
  handoff,           // the bot's end: <Redirect> to --handoff-url
  reconnect,         // no decision: a new stream
  reconnects_spent,  // no decision, --max-reconnects already used: goodbye
  dial,              // no decision: --after-stream dial:<number>
  goodbye,           // no decision: --after-stream goodbye (or nothing to reconnect)
  unavailable,       // the state store could not answer: a dial: policy, else goodbye
  refused,           // no resume key for the call (a changed secret, or not Twilio): goodbye
  count
};
// HTTP answers by status class (1xx: the 101 of a media stream).
enum class StatusClass : std::size_t { informational, success, redirection, client_error, server_error, count };
inline StatusClass status_class(int status) {
  if (status < 200) return StatusClass::informational;
  if (status < 300) return StatusClass::success;
  if (status < 400) return StatusClass::redirection;
  if (status < 500) return StatusClass::client_error;
  return StatusClass::server_error;
}

class Counter {
 public:
  void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Fixed buckets in microseconds; observing is one relaxed increment per bucket crossed.
class LatencyHistogram {
 public:
  static constexpr std::array<std::uint64_t, 12> bounds_us{10,   25,   50,   100,   250,   500,
                                                           1000, 2500, 5000, 10000, 50000, 250000};
  void observe(std::chrono::nanoseconds latency);

  struct Snapshot {
    std::array<std::uint64_t, bounds_us.size() + 1> buckets{};
    std::uint64_t sum_ns = 0;
    std::uint64_t count = 0;
    Snapshot& operator+=(const Snapshot& other);
    std::string render(const std::string& name, const std::string& help) const;
  };
  Snapshot snapshot() const;

 private:
  std::array<std::atomic<std::uint64_t>, bounds_us.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::uint64_t> count_{0};
};

template <class Enum>
class LabelledCounter {
 public:
  Counter& operator[](Enum e) { return counters_[static_cast<std::size_t>(e)]; }
  const Counter& operator[](Enum e) const { return counters_[static_cast<std::size_t>(e)]; }

 private:
  std::array<Counter, static_cast<std::size_t>(Enum::count)> counters_;
};

struct alignas(64) Metrics {
  Gauge active_calls;
  std::array<Gauge, static_cast<std::size_t>(LinkState::count)> backend_links;
  Counter calls_total;
  Counter frames_in;   // media messages from Twilio
  Counter bytes_in;    // WebSocket payload bytes from Twilio
  Counter frames_out;  // media messages written to backends
  Counter bytes_out;   // WebSocket payload bytes written to backends
  LabelledCounter<DropReason> frames_dropped;
  LabelledCounter<StreamRefusal> streams_refused;
  Counter backend_connect_failures;
  Counter backend_reconnects;
  Counter backend_lag_disconnects;
  LabelledCounter<RefusedBackend> backends_refused;
  Counter replies_relayed;
  Counter replies_ignored;  // from listeners, or with --replies none
  Counter replies_on_fork;  // from the primary on a one-way (fork) stream: Twilio would not play them
  Counter replies_invalid;  // media not canonical base64, marks too long: never sent to Twilio
  LabelledCounter<Rejection> handshake_rejections;
  LabelledCounter<ParseSource> parse_errors;
  Counter binary_frames_ignored;
  Counter oversized_messages;
  LabelledCounter<ParseSource> flood_closes;      // streams closed for --max-control-frames or --max-message-fragments
  LabelledCounter<PinBudget> pin_checks_refused;  // PIN checks refused, unchecked, by a spent budget
  Counter connections_refused;    // answered 503 for --max-connections (past the health-probe reserve, or not a probe)
  Counter http_request_timeouts;  // requests answered 503 at --request-timeout
  Counter store_errors;           // state store operations answered with an error (down, busy, too slow)
  LabelledCounter<StatusClass> http_responses;  // every HTTP answer serve wrote, 503s at the connection limit included
  Counter recordings_started;                   // record: backends of calls
  Counter recording_errors;                     // recordings that could not be opened or written (the call went on)
  Counter recording_bytes;                      // audio bytes written to recordings
  Counter recording_frames_dropped;             // frames a recording lost: the writer was too far behind
  LabelledCounter<Decision> decisions;
  LabelledCounter<DecisionRefusal> decisions_refused;
  LabelledCounter<AfterStream> after_stream;
  Counter streams_replaced;  // streams ended because a newer one started for the same CallSid
  LatencyHistogram forward_latency;
  LatencyHistogram loop_lag;  // how late the loop's probe timer ran (server.cpp): time its work kept it from events

  Gauge& links(LinkState state) { return backend_links[static_cast<std::size_t>(state)]; }

  // Prometheus text of the sum of `shards`.
  static std::string render(const std::vector<const Metrics*>& shards);
  std::string render() const { return render({this}); }
};

// A server's metrics: a shard per event loop for its calls, one for everything else (HTTP, the
// /media gate, PIN budgets). A shard is written by one loop; reading sums them all.
class ServerMetrics {
 public:
  Metrics& shared() { return shared_; }
  // Gives the loop whose identity is `loop` its own shard.
  void add_loop(const void* loop);
  // The shard of `loop` (the shared one for a loop never added). Not for the hot path: look it
  // up once per call.
  Metrics& for_loop(const void* loop);

  std::string render() const;
  // Backend links in any state, every loop together.
  std::int64_t backend_links() const;

 private:
  Metrics shared_;
  std::vector<std::pair<const void*, std::unique_ptr<Metrics>>> loops_;
};

}  // namespace callproxy::proxy
