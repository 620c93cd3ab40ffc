// The text of a message on its way to a call's backends: written once per frame, shared by every
// backend's queue (and the write in flight), and returned to a pool of its thread when the last
// holder lets go, its capacity kept for the next frame. No allocation per frame in steady state.
// Not thread-safe, by design: a call and its backends live on one event loop, and so do their
// frames (the count is a plain integer).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace callproxy::proxy {

class FrameText {
 public:
  FrameText() = default;
  // An empty text from this thread's pool (with the capacity a previous frame left).
  static FrameText make();
  static FrameText copy_of(std::string_view text);

  FrameText(const FrameText& other) noexcept : block_(other.block_) { retain(); }
  FrameText(FrameText&& other) noexcept : block_(other.block_) { other.block_ = nullptr; }
  FrameText& operator=(const FrameText& other) noexcept {
    FrameText copy(other);
    swap(copy);
    return *this;
  }
  FrameText& operator=(FrameText&& other) noexcept {
    FrameText moved(std::move(other));
    swap(moved);
    return *this;
  }
  ~FrameText() {
    if (block_) release();  // handlers move frames many times: a moved-from one costs a test
  }

  explicit operator bool() const { return block_ != nullptr; }
  // Only the one who made it writes, before sharing it.
  std::string& text();
  const std::string& text() const;
  std::size_t size() const { return text().size(); }

  void swap(FrameText& other) noexcept { std::swap(block_, other.block_); }

  // Free texts this thread keeps for reuse (tests and metrics).
  static std::size_t pooled();

  struct Block;

 private:
  explicit FrameText(Block* block) : block_(block) {}
  void retain() noexcept;
  void release() noexcept;

  Block* block_ = nullptr;
};

}  // namespace callproxy::proxy
