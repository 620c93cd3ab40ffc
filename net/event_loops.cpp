#include "net/event_loops.h"

#include <algorithm>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "net/loop_thread.h"

namespace callproxy::net {

struct EventLoops::Loop {
  boost::asio::io_context context{1};  // concurrency hint 1: one thread runs it
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work = boost::asio::make_work_guard(context);
};

std::size_t EventLoops::count_for(std::size_t count) {
  return count != 0 ? count : std::max(1u, std::thread::hardware_concurrency());
}

EventLoops::EventLoops(std::size_t count) {
  count = count_for(count);
  for (std::size_t i = 0; i < count; ++i) loops_.push_back(std::make_unique<Loop>());
}

EventLoops::~EventLoops() { stop(); }

boost::asio::io_context& EventLoops::loop(std::size_t index) { return loops_.at(index)->context; }

boost::asio::io_context& EventLoops::next() {
  auto& context = loops_[next_]->context;
  next_ = (next_ + 1) % loops_.size();
  return context;
}

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
