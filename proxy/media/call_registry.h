// The live calls of a serve process, so a drain can wait for them and, at its deadline, end
// them. Touched when a call starts or ends, never per frame.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace callproxy::proxy {

class CallRegistry {
 public:
  using Id = std::uint64_t;

  // A call's place in the registry: left when the call ends, and in any case when it is
  // destroyed, so that no error path can leave a dead call counted.
  class Membership {
   public:
    Membership() = default;
    Membership(CallRegistry& registry, Id id) : registry_(&registry), id_(id) {}
    Membership(Membership&& other) noexcept : registry_(std::exchange(other.registry_, nullptr)), id_(other.id_) {}
    Membership& operator=(Membership&& other) noexcept {
      if (this != &other) {
        leave();
        registry_ = std::exchange(other.registry_, nullptr);
        id_ = other.id_;
      }
      return *this;
    }
    Membership(const Membership&) = delete;
    Membership& operator=(const Membership&) = delete;
    ~Membership() { leave(); }
    void leave() {
      if (auto* registry = std::exchange(registry_, nullptr)) registry->remove(id_);
    }

   private:
    CallRegistry* registry_ = nullptr;
    Id id_ = 0;
  };

  // Adds a call for as long as the membership is held.
  [[nodiscard]] Membership join(std::function<void()> shut_down) { return {*this, add(std::move(shut_down))}; }

  // `shut_down` ends the call; it must be safe to call from any thread (it posts to the
  // call's own loop).
  Id add(std::function<void()> shut_down) {
    std::lock_guard lock(mutex_);
    calls_.emplace(++last_id_, std::move(shut_down));
    return last_id_;
  }

  void remove(Id id) {
    std::lock_guard lock(mutex_);
    calls_.erase(id);
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return calls_.size();
  }

  void shut_down_all() {
    std::unordered_map<Id, std::function<void()>> calls;
    {
      std::lock_guard lock(mutex_);
      calls = calls_;
    }
    for (auto& [id, shut_down] : calls) shut_down();
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<Id, std::function<void()>> calls_;
  Id last_id_ = 0;
};

}  // namespace callproxy::proxy
