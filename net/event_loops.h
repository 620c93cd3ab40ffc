// A fixed set of event loops, one thread each. A connection is placed on one loop and stays
// there with everything it talks to, so the media path never takes a lock.
#pragma once

#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace callproxy::net {

class EventLoops {
 public:
  // `count` 0 means one loop per hardware thread.
  explicit EventLoops(std::size_t count);
  // How many loops EventLoops(count) runs.
  static std::size_t count_for(std::size_t count);
  ~EventLoops();
  EventLoops(const EventLoops&) = delete;
  EventLoops& operator=(const EventLoops&) = delete;

  std::size_t size() const { return loops_.size(); }
  boost::asio::io_context& loop(std::size_t index);
  // The loop for the next new connection (round robin).
  boost::asio::io_context& next();

  // Runs loops 1..n-1 on their own threads and loop 0 on the caller's thread until all are
  // stopped (or run out of work after release_work()).
  void run();
  void stop();

 private:
  struct Loop;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::size_t next_ = 0;
};

}  // namespace callproxy::net
