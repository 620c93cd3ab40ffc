// Where PINs are checked: the --pins-file, a JSON list of
//   {"pin": "1234" | "pin_sha256": "<hex>", "backendIds": [12], "backendHosts": ["10.0.0.5:8900"]}
// Reloadable (SIGHUP): a bad file is refused with a message naming the entry and field, and a bad
// reload keeps the set in use. A reload reads and parses the file (read(), on a thread of its own:
// pin_reloader.h) apart from putting the new set in place (install()), so that no event loop ever
// waits for the file.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace callproxy::proxy {

struct PinEntry {
  std::string pin;            // either this ...
  std::string pin_sha256;     // ... or this (lowercase hex)
  std::string backend_ids;    // JSON text of the array, as the API returns it
  std::string backend_hosts;  // JSON text of the array
};

// Parses a pins file's text; the error names the entry and field (or the JSON line and column).
Result<std::vector<PinEntry>> parse_pins(const std::string& text);

// The most of a pins file that is read: a larger one is refused. An entry takes about 100 bytes,
// so 16 MiB holds some 150,000 PINs, far more than any deployment routes by file (the identity
// API is for more); parsed, a file costs several times its size in memory, which the limit keeps
// to a few hundred MB at worst.
inline constexpr std::size_t max_pins_file_bytes = std::size_t{16} << 20;

class PinDirectory {
 public:
  // The entries and each one's PIN as SHA-256 hex, hashed once when the file is read (a check
  // compares against every entry: hashing plain PINs per check cost a hash per entry per request).
  struct PinSet {
    std::vector<PinEntry> entries;
    std::vector<std::string> digests;
  };

  // Loads `path` (empty: no PINs, every check fails). Throws std::invalid_argument on a bad file.
  explicit PinDirectory(std::string path);

  bool configured() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  std::size_t size() const;
  // Reads and parses the file, a regular file of at most max_pins_file_bytes (core/regular_file.h),
  // and changes nothing: it may take as long as the file does, so it is called off the event loops.
  // The error names the setting and the file.
  Result<std::shared_ptr<const PinSet>> read() const;
  // Puts a set read() made in place of the one in use; returns its entry count.
  std::size_t install(std::shared_ptr<const PinSet> set);
  // read(), then install() what it read; on error keeps the current set and returns the error.
  Result<std::size_t> reload();
  // The entry whose PIN this is. Every entry is compared, in constant time.
  std::optional<PinEntry> find(const std::string& pin) const;

 private:
  std::string path_;
  mutable std::mutex mutex_;
  std::shared_ptr<const PinSet> set_;
};

}  // namespace callproxy::proxy
