// Messages waiting to be written to one peer, bounded in count and in bytes (every message
// counts, not only audio). push() refuses what would pass a limit and the owner applies its
// policy: drop and count, or disconnect the peer. Nothing grows because a peer is slow.
#pragma once

#include <cstddef>
#include <deque>
#include <utility>

namespace callproxy::net {

struct QueueLimits {
  std::size_t max_messages = 1024;
  std::size_t max_bytes = 256 * 1024;
};

template <class Message>
class WriteQueue {
 public:
  explicit WriteQueue(QueueLimits limits = {}) : limits_(limits) {}

  // Queues `message` (`bytes` long on the wire) unless that would pass a limit. One message
  // alone is always taken: the message size limit, not the queue, bounds it.
  bool push(Message message, std::size_t bytes) {
    if (!entries_.empty() && (entries_.size() + 1 > limits_.max_messages || bytes_ + bytes > limits_.max_bytes)) {
      return false;
    }
    bytes_ += bytes;
    entries_.push_back({std::move(message), bytes});
    return true;
  }
  // Ahead of everything queued, whatever the limits: what a new connection must send first.
  void push_front(Message message, std::size_t bytes) {
    bytes_ += bytes;
    entries_.push_front({std::move(message), bytes});
  }

  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  std::size_t bytes() const { return bytes_; }
  const QueueLimits& limits() const { return limits_; }
  Message& front() { return entries_.front().message; }
  void pop() {
    bytes_ -= entries_.front().bytes;
    entries_.pop_front();
  }
  void clear() {
    entries_.clear();
    bytes_ = 0;
  }
  // Visits every queued message (to count what a dropped queue held).
  template <class F>
  void for_each(F f) const {
    for (const auto& e : entries_) f(e.message);
  }

 private:
  struct Entry {
    Message message;
    std::size_t bytes;
  };
  QueueLimits limits_;
  std::deque<Entry> entries_;
  std::size_t bytes_ = 0;
};

}  // namespace callproxy::net
