// A state store that counts its failures: every operation answered with an error (the store
// down, busy or too slow) adds one to callproxy_store_errors_total, whichever part of serve
// asked (the callers API, /executions, a call's execution mark).
#pragma once

#include <memory>

#include "proxy/metrics/metrics.h"
#include "proxy/store/state_store.h"

namespace callproxy::proxy {

// `errors` must outlive the returned store (serve's shared metrics do).
std::unique_ptr<StateStore> count_store_errors(std::unique_ptr<StateStore> store, Counter& errors);

}  // namespace callproxy::proxy
