// One event loop on a thread of its own, for the parts that keep their I/O apart from the call
// loops (the Redis store, test peers). The loop runs from construction; finish() lets it run out
// of work and joins, the destructor stops it and joins.
#pragma once

#include <memory>
#include <thread>

namespace boost::asio {
class io_context;
}

namespace callproxy::net {

class LoopThread {
 public:
  LoopThread();
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  boost::asio::io_context& loop();
  // Lets the loop finish what is queued (nothing keeps it alive any more) and joins the thread.
  void finish();

 private:
  struct Loop;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

// Runs `context` to its end; a handler's exception (a bug: the I/O path reports errors as
// values) is reported and the loop carries on, so one bad request cannot take the process down.
void run_guarded(boost::asio::io_context& context);

}  // namespace callproxy::net
