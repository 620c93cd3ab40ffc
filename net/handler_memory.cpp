// Free lists per size class (64-byte steps up to 16 KiB), per thread, each bounded.
#include "net/handler_memory.h"

#include <array>
#include <cstdlib>
#include <vector>

namespace callproxy::net::handler_memory {
namespace {

constexpr std::size_t step = 64;
constexpr std::size_t classes = 256;  // up to 16 KiB; larger blocks come from the heap each time
constexpr std::size_t max_free_per_class = 256;

std::size_t class_of(std::size_t bytes) { return (bytes + step - 1) / step; }

struct FreeLists {
  std::array<std::vector<void*>, classes + 1> lists;
  ~FreeLists();
};

thread_local bool lists_gone = false;
thread_local FreeLists free_lists;

FreeLists::~FreeLists() {
  lists_gone = true;
  for (auto& list : lists) {
    for (void* block : list) std::free(block);
    list.clear();
  }
}

bool pooled_size(std::size_t bytes, std::size_t alignment) {
  return bytes != 0 && class_of(bytes) <= classes && alignment <= alignof(std::max_align_t);
}

}  // namespace

void* allocate(std::size_t bytes, std::size_t alignment) {
  if (!pooled_size(bytes, alignment)) return ::operator new(bytes, std::align_val_t(alignment));
  const std::size_t c = class_of(bytes);
  if (!lists_gone) {
    auto& list = free_lists.lists[c];
    if (!list.empty()) {
      void* block = list.back();
      list.pop_back();
      return block;
    }
  }
  void* block = std::malloc(c * step);  // malloc's alignment covers max_align_t
  if (!block) throw std::bad_alloc();
  return block;
}

void deallocate(void* block, std::size_t bytes, std::size_t alignment) noexcept {
  if (!block) return;
  if (!pooled_size(bytes, alignment)) {
    ::operator delete(block, std::align_val_t(alignment));
    return;
  }
  if (lists_gone) {
    std::free(block);
    return;
  }
  auto& list = free_lists.lists[class_of(bytes)];
  if (list.size() >= max_free_per_class) {
    std::free(block);
    return;
  }
  try {
    list.push_back(block);  // the list's capacity grows to its most free blocks, then stays
  } catch (...) {
    std::free(block);
  }
}

std::size_t pooled() {
  if (lists_gone) return 0;
  std::size_t n = 0;
  for (const auto& list : free_lists.lists) n += list.size();
  return n;
}

}  // namespace callproxy::net::handler_memory
