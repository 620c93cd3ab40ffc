#include "proxy/callers/store_error_log.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace callproxy::proxy {

void StoreErrorLog::error(const std::string& why, Clock::time_point now) {
  std::uint64_t suppressed = 0;
  {
    std::lock_guard lock(mutex_);
    auto found = slots_.find(why);
    Slot* slot = nullptr;
    if (found != slots_.end()) {
      slot = &found->second;
    } else if (slots_.size() < max_reasons) {
      slots_.emplace(why, Slot{now, 0});  // a new reason: written at once
    } else if (overflow_logged_) {
      slot = &overflow_;
    } else {
      overflow_logged_ = true;
      overflow_.last = now;
    }
    if (slot) {
      if (now - slot->last < interval_) {
        ++slot->suppressed;
        return;
      }
      slot->last = now;
      suppressed = std::exchange(slot->suppressed, 0);
    }
  }
  if (suppressed == 0) {
    spdlog::error("state store: {}", why);
  } else {
    spdlog::error("state store: {} ({} more like it since the last line)", why, suppressed);
  }
}

StoreErrorLog& store_error_log() {
  static StoreErrorLog log;
  return log;
}

}  // namespace callproxy::proxy
