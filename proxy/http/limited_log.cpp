#include "proxy/http/limited_log.h"

#include <spdlog/spdlog.h>

namespace callproxy::proxy {

void LimitedLog::write(std::string_view reason, std::string_view line, Clock::time_point now) {
  std::optional<std::uint64_t> allowed;
  {
    std::lock_guard lock(mutex_);
    auto found = slots_.find(reason);
    if (found == slots_.end() && slots_.size() < max_reasons) found = slots_.emplace(reason, LogSlot{}).first;
    allowed = (found != slots_.end() ? found->second : overflow_).allow(now, interval_);
  }
  if (!allowed) return;
  const auto level = level_ == Level::error ? spdlog::level::err : spdlog::level::warn;
  if (*allowed == 0) {
    spdlog::log(level, "{}{}", prefix_, line);
  } else {
    spdlog::log(level, "{}{} ({} more like it since the last line)", prefix_, line, *allowed);
  }
}

LimitedLog& store_error_log() {
  static LimitedLog log(LimitedLog::Level::error, "state store: ");
  return log;
}

LimitedLog& signature_refusal_log() {
  static LimitedLog log(LimitedLog::Level::warn);
  return log;
}

LimitedLog& pin_api_error_log() {
  static LimitedLog log(LimitedLog::Level::error);
  return log;
}

}  // namespace callproxy::proxy
