// Messages waiting to be written to one peer, bounded in count and in bytes (every message
// counts, not only audio). push() refuses what would pass a limit and the owner applies its
// policy: drop and count, or disconnect the peer. Nothing grows because a peer is slow.
// A ring that only grows (to the most messages ever queued at once): queueing and writing a
// message allocates nothing in steady state, unlike a deque, which allocates a block every few
// hundred pushes.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

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
    if (count_ != 0 && (count_ + 1 > limits_.max_messages || bytes_ + bytes > limits_.max_bytes)) {
      return false;
    }
    make_room();
    slots_[index(count_)] = {std::move(message), bytes};
    ++count_;
    bytes_ += bytes;
    return true;
  }
  // Ahead of everything queued, whatever the limits: what a new connection must send first.
  void push_front(Message message, std::size_t bytes) {
    make_room();
    head_ = (head_ + slots_.size() - 1) & (slots_.size() - 1);
    slots_[head_] = {std::move(message), bytes};
    ++count_;
    bytes_ += bytes;
  }

  bool empty() const { return count_ == 0; }
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return bytes_; }
  const QueueLimits& limits() const { return limits_; }
  Message& front() { return slots_[head_].message; }
  void pop() {
    bytes_ -= slots_[head_].bytes;
    slots_[head_] = {};  // what the message holds is released now, not when the slot is reused
    head_ = index(1);
    --count_;
  }
  void clear() {
    while (count_ != 0) pop();
    head_ = 0;
  }
  // Visits every queued message (to count what a dropped queue held).
  template <class F>
  void for_each(F f) const {
    for (std::size_t i = 0; i < count_; ++i) f(slots_[index(i)].message);
  }

 private:
  struct Entry {
    Message message{};
    std::size_t bytes = 0;
  };
  std::size_t index(std::size_t offset) const { return (head_ + offset) & (slots_.size() - 1); }
  // Doubles the ring (a power of two) when it is full, keeping the order.
  void make_room() {
    if (count_ < slots_.size()) return;
    std::vector<Entry> bigger(slots_.empty() ? 8 : slots_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i) bigger[i] = std::move(slots_[index(i)]);
    slots_ = std::move(bigger);
    head_ = 0;
  }

  QueueLimits limits_;
  std::vector<Entry> slots_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace callproxy::net
