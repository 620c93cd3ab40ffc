#include "proxy/callers/pin_reloader.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace callproxy::proxy {

PinReloader::PinReloader(PinDirectory& pins, PostToLoop post_to_loop)
    : pins_(pins), post_to_loop_(std::move(post_to_loop)) {}

PinReloader::~PinReloader() {
  if (reading_.joinable()) reading_.join();
}

void PinReloader::request() {
  if (running_) {
    again_ = true;
    return;
  }
  start();
}

void PinReloader::start() {
  // The last reload's thread has posted its result: it has ended, or is about to.
  if (reading_.joinable()) reading_.join();
  running_ = true;
  try {
    reading_ = std::thread([this] {
      auto read = [this]() -> Result<std::shared_ptr<const PinDirectory::PinSet>> {
        try {
          return pins_.read();
        } catch (const std::exception& e) {  // out of memory, say: the set in use stays
          return Error{"--pins-file '" + pins_.path() + "': " + e.what()};
        }
      }();
      try {
        post_to_loop_([this, read = std::move(read)]() mutable { finish(std::move(read)); });
      } catch (const std::exception& e) {
        spdlog::error("SIGHUP: the reload of {} cannot be handed back: {}", pins_.path(), e.what());
      }
    });
  } catch (const std::exception& e) {
    running_ = false;
    spdlog::error("SIGHUP: cannot start reloading {}: {}; keeping the {} entries in use", pins_.path(), e.what(),
                  pins_.size());
  }
}

void PinReloader::finish(Result<std::shared_ptr<const PinDirectory::PinSet>> read) {
  running_ = false;
  if (read) {
    const auto count = pins_.install(std::move(read.value()));
    spdlog::info("SIGHUP: {} PIN entries reloaded from {}", count, pins_.path());
  } else {
    spdlog::error("SIGHUP: {}; keeping the {} entries in use", read.error(), pins_.size());
  }
  if (std::exchange(again_, false)) start();
}

}  // namespace callproxy::proxy
