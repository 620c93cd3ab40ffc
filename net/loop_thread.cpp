#include "net/loop_thread.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <exception>

namespace callproxy::net {

struct LoopThread::Loop {
  boost::asio::io_context context{1};  // concurrency hint 1: one thread runs it
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work = boost::asio::make_work_guard(context);
};

LoopThread::LoopThread() : loop_(std::make_unique<Loop>()) {
  thread_ = std::thread([context = &loop_->context] { run_guarded(*context); });
}

LoopThread::~LoopThread() {
  loop_->work.reset();
  loop_->context.stop();
  if (thread_.joinable()) thread_.join();
}

boost::asio::io_context& LoopThread::loop() { return loop_->context; }

void LoopThread::finish() {
  loop_->work.reset();
  if (thread_.joinable()) thread_.join();
}

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

}  // namespace callproxy::net
