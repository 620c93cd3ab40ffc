// The live calls of a serve process, so a drain can wait for them and, at its deadline, end
// them. Touched when a call starts or ends, never per frame.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
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
    // This call now carries `call_sid` (Twilio's CallSid): a call of this process that carried it
    // before has its own `replaced` run (it ends itself). One stream per CallSid: Twilio opens a
    // new one for a call only once it is done with the old.
    void carry(const std::string& call_sid, std::function<void()> replaced) {
      if (registry_) registry_->carry(id_, call_sid, std::move(replaced));
    }

   private:
    CallRegistry* registry_ = nullptr;
    Id id_ = 0;
  };

  // What ends a call: true when the call is handed over to another instance (a drain with
  // --drain-handover), false when the server is simply going away.
  using ShutDown = std::function<void(bool hand_over)>;

  // Adds a call for as long as the membership is held.
  [[nodiscard]] Membership join(ShutDown shut_down) { return {*this, add(std::move(shut_down))}; }

  // `shut_down` ends the call; it must be safe to call from any thread (it posts to the
  // call's own loop).
  Id add(ShutDown shut_down) {
    std::lock_guard lock(mutex_);
    calls_.emplace(++last_id_, std::move(shut_down));
    return last_id_;
  }

  void remove(Id id) {
    std::lock_guard lock(mutex_);
    calls_.erase(id);
    if (const auto it = sids_.find(id); it != sids_.end()) {
      if (const auto carrier = carriers_.find(it->second); carrier != carriers_.end() && carrier->second.first == id) {
        carriers_.erase(carrier);
      }
      sids_.erase(it);
    }
  }

  // Call `id` carries `call_sid` from now on; the call that carried it before (if any, and still
  // here) has its `replaced` run, outside the lock. `replaced` must be safe from any thread.
  void carry(Id id, const std::string& call_sid, std::function<void()> replaced) {
    std::function<void()> previous;
    {
      std::lock_guard lock(mutex_);
      if (!calls_.count(id)) return;
      auto& carrier = carriers_[call_sid];
      if (carrier.second && carrier.first != id) previous = std::move(carrier.second);
      carrier = {id, std::move(replaced)};
      sids_[id] = call_sid;
    }
    if (previous) previous();
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return calls_.size();
  }

  void shut_down_all(bool hand_over = false) {
    std::unordered_map<Id, ShutDown> calls;
    {
      std::lock_guard lock(mutex_);
      calls = calls_;
    }
    for (auto& [id, shut_down] : calls) shut_down(hand_over);
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<Id, ShutDown> calls_;
  std::unordered_map<std::string, std::pair<Id, std::function<void()>>> carriers_;  // by CallSid
  std::unordered_map<Id, std::string> sids_;                                        // the CallSid each carrier carries
  Id last_id_ = 0;
};

}  // namespace callproxy::proxy
