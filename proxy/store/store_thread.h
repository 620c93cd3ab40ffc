// A thread a store owns: it runs the tasks posted to it one at a time, in the order they were
// posted, off every caller's thread (the stores' asynchronous contract). A bounded one refuses a
// task when too many wait. A task that throws is logged, and the thread goes on.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <thread>

namespace callproxy::proxy {

class StoreThread {
 public:
  // `what` names the thread in log lines ("SQLite store").
  explicit StoreThread(std::string what, std::size_t max_queued = std::numeric_limits<std::size_t>::max());
  // Runs what is queued, then stops.
  ~StoreThread();
  // The same, before the destructor: what is queued runs (tasks it posts included), then the
  // thread ends; later posts are refused. The object stays usable (post answers false), so a
  // task that runs meanwhile may still post.
  void finish();
  StoreThread(const StoreThread&) = delete;
  StoreThread& operator=(const StoreThread&) = delete;

  // Queues `task`; false, and the task not taken, when `max_queued` tasks already wait.
  bool post(std::function<void()> task);

 private:
  void work();

  std::string what_;
  std::size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  bool exited_ = false;  // the thread has run its last task
  std::thread thread_;   // last: starts once the rest exists
};

}  // namespace callproxy::proxy
