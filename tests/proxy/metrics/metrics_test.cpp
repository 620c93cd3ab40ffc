#include <catch2/catch.hpp>

#include "proxy/metrics/metrics.h"

using namespace callproxy::proxy;

TEST_CASE("each loop counts into its own shard and a scrape sums them", "[metrics]") {
  ServerMetrics metrics;
  const int loop_a = 0, loop_b = 0;  // any distinct addresses identify loops
  metrics.add_loop(&loop_a);
  metrics.add_loop(&loop_b);
  Metrics& a = metrics.for_loop(&loop_a);
  Metrics& b = metrics.for_loop(&loop_b);
  CHECK(&a != &b);
  CHECK(&a != &metrics.shared());
  CHECK(&metrics.for_loop(&metrics) == &metrics.shared());  // a loop never added counts in the shared shard

  a.frames_in.add(3);
  b.frames_in.add(4);
  metrics.shared().frames_in.add(5);
  a.frames_dropped[DropReason::invalid_payload].add(2);
  b.frames_dropped[DropReason::invalid_payload].add(1);
  a.links(LinkState::open).add(1);
  b.links(LinkState::connecting).add(2);
  a.forward_latency.observe(std::chrono::microseconds(20));
  b.forward_latency.observe(std::chrono::microseconds(2000));

  const auto text = metrics.render();
  CHECK(text.find("\ncallproxy_frames_in_total 12\n") != std::string::npos);
  CHECK(text.find("\ncallproxy_frames_dropped_total{reason=\"invalid_payload\"} 3\n") != std::string::npos);
  CHECK(text.find("\ncallproxy_backend_links{state=\"open\"} 1\n") != std::string::npos);
  CHECK(text.find("\ncallproxy_backend_links{state=\"connecting\"} 2\n") != std::string::npos);
  CHECK(text.find("\ncallproxy_forward_latency_seconds_bucket{le=\"2.5e-05\"} 1\n") != std::string::npos);
  CHECK(text.find("\ncallproxy_forward_latency_seconds_count 2\n") != std::string::npos);
  CHECK(metrics.backend_links() == 3);
  // Shards do not share cache lines.
  CHECK(reinterpret_cast<std::uintptr_t>(&a) % 64 == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(&b) % 64 == 0);
}
