#include "proxy/store/store_thread.h"

#include <spdlog/spdlog.h>

#include <exception>

namespace callproxy::proxy {

StoreThread::StoreThread(std::string what, std::size_t max_queued)
    : what_(std::move(what)), max_queued_(max_queued), thread_([this] { work(); }) {}

StoreThread::~StoreThread() { finish(); }

void StoreThread::finish() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool StoreThread::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (exited_ || tasks_.size() >= max_queued_) return false;
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
  return true;
}

void StoreThread::work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) {  // stopping, and everything queued has run
        exited_ = true;
        return;
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    // A callback's failure is its own (a bug where it was written): it must not end the thread
    // every later operation needs, nor the process.
    try {
      task();
    } catch (const std::exception& e) {
      spdlog::error("state store: a task on the {} thread failed: {}", what_, e.what());
    } catch (...) {
      spdlog::error("state store: a task on the {} thread failed", what_);
    }
  }
}

}  // namespace callproxy::proxy
