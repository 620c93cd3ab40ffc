#include "net/event_loops.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace callproxy::net {

struct EventLoops::Loop {
  boost::asio::io_context context{1};  // concurrency hint 1: one thread runs it
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(context);
};

EventLoops::EventLoops(std::size_t count) {
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t i = 0; i < count; ++i) loops_.push_back(std::make_unique<Loop>());
}

EventLoops::~EventLoops() { stop(); }

boost::asio::io_context& EventLoops::loop(std::size_t index) { return loops_.at(index)->context; }

boost::asio::io_context& EventLoops::next() {
  auto& context = loops_[next_]->context;
  next_ = (next_ + 1) % loops_.size();
  return context;
}

namespace {

// Runs a loop to its end; a handler's exception (a bug: the I/O path reports errors as values)
// is reported and the loop carries on, so one bad request cannot take the process down.
void run_guarded(boost::asio::io_context& context) {
  for (;;) {
    try {
      context.run();
      return;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "callproxy: unexpected exception in an event loop (continuing): %s\n", e.what());
    }
  }
}

}  // namespace

void EventLoops::run() {
  std::vector<std::jthread> threads;
  for (std::size_t i = 1; i < loops_.size(); ++i) {
    threads.emplace_back([this, i] { run_guarded(loops_[i]->context); });
  }
  run_guarded(loops_[0]->context);
  // jthreads join here, after loop 0 stopped.
}

void EventLoops::stop() {
  for (auto& l : loops_) {
    l->work.reset();
    l->context.stop();
  }
}

}  // namespace callproxy::net
