// Memory for the completion handlers of the media path's socket operations, recycled per thread.
// Asio's own recycling keeps 2 blocks of at most 2 KiB per thread, and a Beast WebSocket write
// on a TCP stream needs more than that (its gather buffers alone are 1 KiB), so every frame
// cost a malloc and a free per socket operation. Binding this allocator to a handler
// (asio::bind_allocator(net::HandlerAllocator<void>{}, handler)) makes Asio and Beast take
// every intermediate operation of that write or read from free lists kept per size class:
// nothing allocated in steady state. Blocks return to the thread that frees them.
#pragma once

#include <cstddef>
#include <new>

namespace callproxy::net {

namespace handler_memory {
void* allocate(std::size_t bytes, std::size_t alignment);
void deallocate(void* block, std::size_t bytes, std::size_t alignment) noexcept;
// Free blocks this thread keeps (tests).
std::size_t pooled();
}  // namespace handler_memory

template <class T>
class HandlerAllocator {
 public:
  using value_type = T;
  HandlerAllocator() noexcept = default;
  template <class U>
  HandlerAllocator(const HandlerAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor): allocators rebind

  T* allocate(std::size_t n) { return static_cast<T*>(handler_memory::allocate(n * sizeof(T), alignof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { handler_memory::deallocate(p, n * sizeof(T), alignof(T)); }

  template <class U>
  bool operator==(const HandlerAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const HandlerAllocator<U>&) const noexcept {
    return false;
  }
};

}  // namespace callproxy::net
