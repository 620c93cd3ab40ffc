#include "proxy/callers/pin_directory.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/regular_file.h"
#include "proxy/media/backend_target.h"
#include "twilio/json_limits.h"
#include "twilio/signature.h"

namespace callproxy::proxy {

Result<std::vector<PinEntry>> parse_pins(const std::string& text) {
  // The file is checked before it is parsed, like any JSON from outside; the parser's own
  // exception is kept below for its line and column.
  if (!twilio::json_depth_within(text)) {
    return Error{"nested deeper than " + std::to_string(twilio::max_json_depth) + " levels"};
  }
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
    return Error{std::string("not valid JSON: ") + e.what()};
  }
  if (!root.is_array()) return Error{"expected a JSON list of PIN entries"};
  std::vector<PinEntry> entries;
  for (std::size_t i = 0; i < root.size(); ++i) {
    const auto& e = root[i];
    const auto where = "entry " + std::to_string(i + 1) + ": ";
    if (!e.is_object()) return Error{where + "must be an object"};
    PinEntry entry;
    const bool has_pin = e.contains("pin"), has_hash = e.contains("pin_sha256");
    if (has_pin == has_hash) return Error{where + "needs exactly one of 'pin' and 'pin_sha256'"};
    if (has_pin) {
      if (!e["pin"].is_string() || e["pin"].get<std::string>().empty()) {
        return Error{where + "'pin' must be a non-empty string"};
      }
      entry.pin = e["pin"];
    } else {
      const auto& h = e["pin_sha256"];
      if (!h.is_string() || h.get<std::string>().size() != 64 ||
          h.get<std::string>().find_first_not_of("0123456789abcdef") != std::string::npos) {
        return Error{where + "'pin_sha256' must be 64 lowercase hex digits"};
      }
      entry.pin_sha256 = h;
    }
    const auto ids = e.value("backendIds", nlohmann::json::array());
    if (!ids.is_array()) return Error{where + "'backendIds' must be a list"};
    const auto hosts = e.value("backendHosts", nlohmann::json::array());
    if (!hosts.is_array()) return Error{where + "'backendHosts' must be a list"};
    for (const auto& host : hosts) {
      if (!host.is_string()) return Error{where + "'backendHosts' must hold strings"};
      if (auto parsed = parse_backend(host.get<std::string>()); !parsed) return Error{where + parsed.error()};
    }
    entry.backend_ids = ids.dump();
    entry.backend_hosts = hosts.dump();
    entries.push_back(std::move(entry));
  }
  return entries;
}

PinDirectory::PinDirectory(std::string path) : path_(std::move(path)), set_(std::make_shared<PinSet>()) {
  if (path_.empty()) return;
  if (auto loaded = reload(); !loaded) throw std::invalid_argument(loaded.error());
}

std::size_t PinDirectory::size() const {
  std::lock_guard lock(mutex_);
  return set_->entries.size();
}

Result<std::shared_ptr<const PinDirectory::PinSet>> PinDirectory::read() const {
  const auto text = read_regular_file(path_, max_pins_file_bytes);
  if (!text) return Error{"--pins-file '" + path_ + "': " + text.error()};
  auto parsed = parse_pins(text.value());
  if (!parsed) return Error{"--pins-file '" + path_ + "': " + parsed.error()};
  auto set = std::make_shared<PinSet>();
  set->entries = std::move(parsed.value());
  set->digests.reserve(set->entries.size());
  for (const auto& e : set->entries) set->digests.push_back(e.pin.empty() ? e.pin_sha256 : twilio::sha256_hex(e.pin));
  return std::shared_ptr<const PinSet>(std::move(set));
}

std::size_t PinDirectory::install(std::shared_ptr<const PinSet> set) {
  const auto count = set->entries.size();
  std::lock_guard lock(mutex_);
  set_ = std::move(set);
  return count;
}

Result<std::size_t> PinDirectory::reload() {
  auto set = read();
  if (!set) return Error{set.error()};
  return install(std::move(set.value()));
}

std::optional<PinEntry> PinDirectory::find(const std::string& pin) const {
  std::shared_ptr<const PinSet> set;
  {
    std::lock_guard lock(mutex_);
    set = set_;
  }
  const auto hash = twilio::sha256_hex(pin);
  std::optional<std::size_t> match;
  for (std::size_t i = 0; i < set->digests.size(); ++i) {
    // No early exit: the time taken does not tell how far down the list a PIN is. Digests of a
    // fixed length are compared, so neither does it tell a PIN's length.
    const bool same = twilio::constant_time_equal(set->digests[i], hash);
    if (same && !match) match = i;
  }
  if (!match) return std::nullopt;
  return set->entries[*match];
}

}  // namespace callproxy::proxy
