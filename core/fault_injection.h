// Test-only fault injection: a test sets the hook to make chosen points of the code throw, and
// checks that cleanup holds on that error path. Production never sets it; a point costs one
// relaxed atomic load, and none sits on a per-frame path.
#pragma once

#include <atomic>

namespace callproxy::testing {

enum class FaultPoint {
  call_started,     // a call session, at the end of handling its start (links and mark made)
  speaker_message,  // local-speaker, handling a message from a stream
};

using FaultHook = void (*)(FaultPoint);
inline std::atomic<FaultHook> fault_hook{nullptr};

inline void fault_point(FaultPoint point) {
  if (const auto hook = fault_hook.load(std::memory_order_relaxed)) hook(point);
}

}  // namespace callproxy::testing
