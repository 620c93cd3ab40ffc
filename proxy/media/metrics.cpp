#include "proxy/media/metrics.h"

#include <fmt/format.h>

namespace callproxy::proxy {
namespace {

void counter(std::string& out, const char* name, const char* help, std::uint64_t value) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, value);
}

void gauge(std::string& out, const char* name, const char* help, std::int64_t value) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, help, value);
}

template <class Enum, std::size_t N>
void labelled(std::string& out, const char* name, const char* help, const char* label,
              const LabelledCounter<Enum>& counters, const std::array<const char*, N>& names) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n", name, help);
  for (std::size_t i = 0; i < N; ++i) {
    out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, label, names[i], counters[static_cast<Enum>(i)].value());
  }
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

std::string LatencyHistogram::render(const std::string& name, const std::string& help) const {
  std::string out = fmt::format("# HELP {0} {1}\n# TYPE {0} histogram\n", name, help);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_us.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, static_cast<double>(bounds_us[i]) / 1e6, cumulative);
  }
  cumulative += buckets_[bounds_us.size()].load(std::memory_order_relaxed);
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
  out += fmt::format("{}_sum {}\n", name, static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  out += fmt::format("{}_count {}\n", name, count_.load(std::memory_order_relaxed));
  return out;
}

std::string Metrics::render() const {
  std::string out;
  gauge(out, "callproxy_active_calls", "Twilio media streams open now", active_calls.value());
  out += "# HELP callproxy_backend_links Backend links by state\n# TYPE callproxy_backend_links gauge\n";
  const std::array<const char*, 3> states{"connecting", "open", "reconnecting"};
  for (std::size_t i = 0; i < states.size(); ++i) {
    out += fmt::format("callproxy_backend_links{{state=\"{}\"}} {}\n", states[i], backend_links[i].value());
  }
  counter(out, "callproxy_calls_total", "Twilio media streams accepted", calls_total.value());
  counter(out, "callproxy_frames_in_total", "Media messages received from Twilio", frames_in.value());
  counter(out, "callproxy_bytes_in_total", "WebSocket payload bytes received from Twilio", bytes_in.value());
  counter(out, "callproxy_frames_out_total", "Media messages written to backends", frames_out.value());
  counter(out, "callproxy_bytes_out_total", "WebSocket payload bytes written to backends", bytes_out.value());
  labelled(out, "callproxy_frames_dropped_total", "Media messages not delivered, by reason", "reason", frames_dropped,
           std::array<const char*, 6>{"backend_lag", "backend_down", "before_start", "twilio_lag", "invalid_payload",
                                      "frame_too_large"});
  labelled(out, "callproxy_streams_refused_total", "Twilio streams serve closed with 1008, by reason", "reason",
           streams_refused, std::array<const char*, 3>{"no_start", "too_many_backends", "no_backend"});
  counter(out, "callproxy_backend_connect_failures_total", "Backend connections that failed",
          backend_connect_failures.value());
  counter(out, "callproxy_backend_reconnects_total", "Backend links re-established after a drop",
          backend_reconnects.value());
  counter(out, "callproxy_backend_lag_disconnects_total", "Backends disconnected for falling behind",
          backend_lag_disconnects.value());
  labelled(out, "callproxy_backends_refused_total", "Backends a call named that were refused", "reason",
           backends_refused, std::array<const char*, 2>{"not_allowed", "invalid"});
  counter(out, "callproxy_replies_relayed_total", "Backend messages relayed to Twilio", replies_relayed.value());
  counter(out, "callproxy_replies_ignored_total", "Backend messages not relayed (listeners, --replies none)",
          replies_ignored.value());
  labelled(out, "callproxy_handshake_rejections_total", "Refused /media handshakes, by reason", "reason",
           handshake_rejections,
           std::array<const char*, 4>{"missing_signature", "bad_signature", "draining", "not_websocket"});
  labelled(out, "callproxy_parse_errors_total", "Messages that could not be parsed, by sender", "source", parse_errors,
           std::array<const char*, 2>{"twilio", "backend"});
  counter(out, "callproxy_binary_frames_ignored_total", "Binary WebSocket frames from Twilio ignored",
          binary_frames_ignored.value());
  counter(out, "callproxy_oversized_messages_total", "Messages over --max-message-bytes", oversized_messages.value());
  labelled(out, "callproxy_pin_checks_refused_total",
           "PIN checks refused without looking at the PIN, by the failure budget that was spent", "budget",
           pin_checks_refused, std::array<const char*, 2>{"global", "source"});
  out += forward_latency.render("callproxy_forward_latency_seconds",
                                "Time from a media frame's arrival to its write to a backend completing");
  return out;
}

}  // namespace callproxy::proxy
