#include "proxy/callers/store_error_log.h"

#include <spdlog/spdlog.h>

namespace callproxy::proxy {

void StoreErrorLog::error(const std::string& why, Clock::time_point now) {
  std::optional<std::uint64_t> allowed;
  {
    std::lock_guard lock(mutex_);
    auto found = slots_.find(why);
    if (found == slots_.end() && slots_.size() < max_reasons) found = slots_.emplace(why, LogSlot{}).first;
    allowed = (found != slots_.end() ? found->second : overflow_).allow(now, interval_);
  }
  if (!allowed) return;
  if (*allowed == 0) {
    spdlog::error("state store: {}", why);
  } else {
    spdlog::error("state store: {} ({} more like it since the last line)", why, *allowed);
  }
}

StoreErrorLog& store_error_log() {
  static StoreErrorLog log;
  return log;
}

}  // namespace callproxy::proxy
