// FrameText's pool: a free list per thread, bounded in entries and in the capacity it keeps.
#include "proxy/media/frame_text.h"

#include <vector>

namespace callproxy::proxy {

struct FrameText::Block {
  std::string text;
  std::size_t refs = 1;
};

namespace {

// Texts larger than this are freed rather than kept (a whole recording sent as one message must
// not hold its memory for ever); Twilio's frames are ~300 bytes.
constexpr std::size_t max_pooled_capacity = 4096;
constexpr std::size_t max_pooled_blocks = 4096;

struct Pool {
  std::vector<FrameText::Block*> free;
  Pool() { free.reserve(64); }
  ~Pool();
};

// Set when this thread's pool is destroyed: a text released after that (a handler destroyed
// during the thread's exit) is freed, not pooled.
thread_local bool pool_gone = false;
thread_local Pool pool;

Pool::~Pool() {
  pool_gone = true;
  for (auto* block : free) delete block;
  free.clear();
}

}  // namespace

FrameText FrameText::make() {
  if (!pool_gone && !pool.free.empty()) {
    Block* block = pool.free.back();
    pool.free.pop_back();
    block->refs = 1;
    block->text.clear();
    return FrameText(block);
  }
  return FrameText(new Block);
}

FrameText FrameText::copy_of(std::string_view text) {
  FrameText frame = make();
  frame.text().assign(text);
  return frame;
}

std::string& FrameText::text() { return block_->text; }
const std::string& FrameText::text() const { return block_->text; }

std::size_t FrameText::pooled() { return pool_gone ? 0 : pool.free.size(); }

void FrameText::retain() noexcept {
  if (block_) ++block_->refs;
}

void FrameText::release() noexcept {
  if (!block_ || --block_->refs != 0) return;
  Block* block = block_;
  block_ = nullptr;
  if (pool_gone || block->text.capacity() > max_pooled_capacity || pool.free.size() >= max_pooled_blocks) {
    delete block;
    return;
  }
  // The vector's capacity grows to the most texts ever free at once, then stays.
  try {
    pool.free.push_back(block);
  } catch (...) {
    delete block;
  }
}

}  // namespace callproxy::proxy
