// Routes that report on the service: GET / -> 200 "OK" (the Node service's health check),
// /healthz, /readyz (503 while draining), /metrics (Prometheus text), and
// /executions/:id/connected (200 while that execution's stream is open, else 410).
#pragma once

#include <atomic>

#include "proxy/http/router.h"
#include "proxy/metrics/metrics.h"
#include "proxy/store/state_store.h"

namespace callproxy::proxy {

void add_status_routes(Router& router, const std::atomic<bool>& draining, const ServerMetrics& metrics,
                       StateStore& store);

}  // namespace callproxy::proxy
