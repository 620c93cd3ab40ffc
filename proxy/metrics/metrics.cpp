#include "proxy/metrics/metrics.h"

#include "proxy/metrics/process_metrics.h"

#include <fmt/format.h>

namespace callproxy::proxy {
namespace {

void counter(std::string& out, const char* name, const char* help, std::uint64_t value) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, value);
}

void gauge(std::string& out, const char* name, const char* help, std::int64_t value) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, help, value);
}

template <std::size_t N>
void labelled(std::string& out, const char* name, const char* help, const char* label,
              const std::array<std::uint64_t, N>& values, const std::array<const char*, N>& names) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n", name, help);
  for (std::size_t i = 0; i < N; ++i) out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, label, names[i], values[i]);
}

}  // namespace

void LatencyHistogram::observe(std::chrono::nanoseconds latency) {
  const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count()));
  std::size_t i = 0;
  while (i < bounds_us.size() && ns > bounds_us[i] * 1000) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
  Snapshot snap;
  for (std::size_t i = 0; i < buckets_.size(); ++i) snap.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  snap.sum_ns = sum_ns_.load(std::memory_order_relaxed);
  snap.count = count_.load(std::memory_order_relaxed);
  return snap;
}

LatencyHistogram::Snapshot& LatencyHistogram::Snapshot::operator+=(const Snapshot& other) {
  for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
  sum_ns += other.sum_ns;
  count += other.count;
  return *this;
}

std::string LatencyHistogram::Snapshot::render(const std::string& name, const std::string& help) const {
  std::string out = fmt::format("# HELP {0} {1}\n# TYPE {0} histogram\n", name, help);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_us.size(); ++i) {
    cumulative += buckets[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, static_cast<double>(bounds_us[i]) / 1e6, cumulative);
  }
  cumulative += buckets[bounds_us.size()];
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
  out += fmt::format("{}_sum {}\n", name, static_cast<double>(sum_ns) / 1e9);
  out += fmt::format("{}_count {}\n", name, count);
  return out;
}

std::string Metrics::render(const std::vector<const Metrics*>& shards) {
  // Each series is the sum of its value in every shard.
  auto sum = [&shards](auto get) {
    decltype(get(*shards.front())) total = 0;
    for (const auto* m : shards) total += get(*m);
    return total;
  };
  // A labelled counter's values, label by label, summed over the shards.
  auto sum_labelled = [&shards]<class Enum>(LabelledCounter<Enum> Metrics::*member) {
    std::array<std::uint64_t, static_cast<std::size_t>(Enum::count)> total{};
    for (const auto* m : shards) {
      for (std::size_t i = 0; i < total.size(); ++i) total[i] += (m->*member)[static_cast<Enum>(i)].value();
    }
    return total;
  };
  std::string out;
  gauge(out, "callproxy_active_calls", "Twilio media streams open now",
        sum([](const Metrics& m) { return m.active_calls.value(); }));
  out += "# HELP callproxy_backend_links Backend links by state\n# TYPE callproxy_backend_links gauge\n";
  const std::array<const char*, 3> states{"connecting", "open", "reconnecting"};
  for (std::size_t i = 0; i < states.size(); ++i) {
    out += fmt::format("callproxy_backend_links{{state=\"{}\"}} {}\n", states[i],
                       sum([i](const Metrics& m) { return m.backend_links[i].value(); }));
  }
  counter(out, "callproxy_calls_total", "Twilio media streams accepted",
          sum([](const Metrics& m) { return m.calls_total.value(); }));
  counter(out, "callproxy_frames_in_total", "Media messages received from Twilio",
          sum([](const Metrics& m) { return m.frames_in.value(); }));
  counter(out, "callproxy_bytes_in_total", "WebSocket payload bytes received from Twilio",
          sum([](const Metrics& m) { return m.bytes_in.value(); }));
  counter(out, "callproxy_frames_out_total", "Media messages written to backends",
          sum([](const Metrics& m) { return m.frames_out.value(); }));
  counter(out, "callproxy_bytes_out_total", "WebSocket payload bytes written to backends",
          sum([](const Metrics& m) { return m.bytes_out.value(); }));
  labelled(out, "callproxy_frames_dropped_total", "Media messages not delivered, by reason", "reason",
           sum_labelled(&Metrics::frames_dropped),
           std::array<const char*, 6>{"backend_lag", "backend_down", "before_start", "twilio_lag", "invalid_payload",
                                      "frame_too_large"});
  labelled(out, "callproxy_streams_refused_total", "Twilio streams serve closed with 1008, by reason", "reason",
           sum_labelled(&Metrics::streams_refused),
           std::array<const char*, 4>{"no_start", "too_many_backends", "no_backend", "stream_token"});
  counter(out, "callproxy_backend_connect_failures_total", "Backend connections that failed",
          sum([](const Metrics& m) { return m.backend_connect_failures.value(); }));
  counter(out, "callproxy_backend_reconnects_total", "Backend links re-established after a drop",
          sum([](const Metrics& m) { return m.backend_reconnects.value(); }));
  counter(out, "callproxy_backend_lag_disconnects_total", "Backends disconnected for falling behind",
          sum([](const Metrics& m) { return m.backend_lag_disconnects.value(); }));
  labelled(out, "callproxy_backends_refused_total", "Backends a call named that were refused", "reason",
           sum_labelled(&Metrics::backends_refused), std::array<const char*, 2>{"not_allowed", "invalid"});
  counter(out, "callproxy_replies_relayed_total", "Backend messages relayed to Twilio",
          sum([](const Metrics& m) { return m.replies_relayed.value(); }));
  counter(out, "callproxy_replies_ignored_total", "Backend messages not relayed (listeners, --replies none)",
          sum([](const Metrics& m) { return m.replies_ignored.value(); }));
  counter(out, "callproxy_replies_on_fork_stream_total",
          "Backend replies dropped because the stream is one-way (<Start><Stream>)",
          sum([](const Metrics& m) { return m.replies_on_fork.value(); }));
  counter(out, "callproxy_replies_invalid_total",
          "Backend replies not relayed: media not canonical base64 of 1..--max-frame-bytes, over-long mark names",
          sum([](const Metrics& m) { return m.replies_invalid.value(); }));
  labelled(out, "callproxy_handshake_rejections_total", "Refused /media handshakes, by reason", "reason",
           sum_labelled(&Metrics::handshake_rejections),
           std::array<const char*, 5>{"missing_signature", "bad_signature", "draining", "not_websocket", "call_limit"});
  labelled(out, "callproxy_parse_errors_total", "Messages that could not be parsed, by sender", "source",
           sum_labelled(&Metrics::parse_errors), std::array<const char*, 2>{"twilio", "backend"});
  counter(out, "callproxy_binary_frames_ignored_total", "Binary WebSocket frames from Twilio ignored",
          sum([](const Metrics& m) { return m.binary_frames_ignored.value(); }));
  counter(out, "callproxy_oversized_messages_total", "Messages over --max-message-bytes",
          sum([](const Metrics& m) { return m.oversized_messages.value(); }));
  counter(out, "callproxy_recordings_total", "Recordings started (record: backends)",
          sum([](const Metrics& m) { return m.recordings_started.value(); }));
  counter(out, "callproxy_recording_errors_total",
          "Recordings that could not be opened or written (their calls went on)",
          sum([](const Metrics& m) { return m.recording_errors.value(); }));
  counter(out, "callproxy_recording_bytes_total", "Audio bytes written to recordings",
          sum([](const Metrics& m) { return m.recording_bytes.value(); }));
  counter(out, "callproxy_recording_frames_dropped_total",
          "Frames recordings lost because the disk was too far behind (RecordingWriter::max_queued_bytes)",
          sum([](const Metrics& m) { return m.recording_frames_dropped.value(); }));
  labelled(out, "callproxy_flood_closes_total",
           "Streams closed for too many control frames or fragments (--max-control-frames, "
           "--max-message-fragments), by sender",
           "source", sum_labelled(&Metrics::flood_closes), std::array<const char*, 2>{"twilio", "backend"});
  labelled(out, "callproxy_http_responses_total", "HTTP answers written, by status class", "class",
           sum_labelled(&Metrics::http_responses), std::array<const char*, 5>{"1xx", "2xx", "3xx", "4xx", "5xx"});
  labelled(out, "callproxy_pin_checks_refused_total",
           "PIN checks refused without looking at the PIN, by the failure budget that was spent", "budget",
           sum_labelled(&Metrics::pin_checks_refused), std::array<const char*, 2>{"global", "source"});
  counter(out, "callproxy_connections_refused_total",
          "Connections answered 503 at --max-connections (beyond the health-probe reserve, or not a probe)",
          sum([](const Metrics& m) { return m.connections_refused.value(); }));
  counter(out, "callproxy_http_request_timeouts_total", "HTTP requests answered 503 at --request-timeout",
          sum([](const Metrics& m) { return m.http_request_timeouts.value(); }));
  counter(out, "callproxy_store_errors_total", "State store operations that failed (the store down, busy or too slow)",
          sum([](const Metrics& m) { return m.store_errors.value(); }));
  labelled(out, "callproxy_call_decisions_total", "Decisions bots made for their calls, kept for the after-stream step",
           "decision", sum_labelled(&Metrics::decisions), std::array<const char*, 3>{"hangup", "transfer", "end"});
  labelled(out, "callproxy_call_decisions_refused_total", "Bot control messages refused, by reason", "reason",
           sum_labelled(&Metrics::decisions_refused),
           std::array<const char*, 4>{"not_allowed", "invalid", "repeated", "store_error"});
  labelled(out, "callproxy_after_stream_total", "What the call flow did after a stream ended, by outcome", "outcome",
           sum_labelled(&Metrics::after_stream),
           std::array<const char*, 9>{"hangup", "transfer", "handoff", "reconnect", "reconnects_spent", "dial",
                                      "goodbye", "unavailable", "refused"});
  counter(out, "callproxy_streams_replaced_total", "Streams ended because a newer stream started for the same CallSid",
          sum([](const Metrics& m) { return m.streams_replaced.value(); }));
  LatencyHistogram::Snapshot latency;
  for (const auto* m : shards) latency += m->forward_latency.snapshot();
  out += latency.render("callproxy_forward_latency_seconds",
                        "Time from a media frame's arrival to its write to a backend completing");
  LatencyHistogram::Snapshot lag;
  for (const auto* m : shards) lag += m->loop_lag.snapshot();
  out += lag.render("callproxy_loop_lag_seconds",
                    "How late each event loop's 100 ms probe timer ran: how long work kept the loop from its events");
  return out;
}

void ServerMetrics::add_loop(const void* loop) { loops_.emplace_back(loop, std::make_unique<Metrics>()); }

Metrics& ServerMetrics::for_loop(const void* loop) {
  for (auto& [key, shard] : loops_) {
    if (key == loop) return *shard;
  }
  return shared_;
}

std::string ServerMetrics::render() const {
  std::vector<const Metrics*> shards{&shared_};
  for (const auto& [key, shard] : loops_) shards.push_back(shard.get());
  auto out = Metrics::render(shards);
  render_process_metrics(out);
  return out;
}

std::int64_t ServerMetrics::backend_links() const {
  std::int64_t total = 0;
  auto add = [&total](const Metrics& m) {
    for (const auto& g : m.backend_links) total += g.value();
  };
  add(shared_);
  for (const auto& [key, shard] : loops_) add(*shard);
  return total;
}

}  // namespace callproxy::proxy
