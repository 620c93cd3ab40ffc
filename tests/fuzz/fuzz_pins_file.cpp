// The pins file (--pins-file; proxy/callers/pin_directory.*), as an operator writes it: refused
// with the entry and field named, or read into entries that each name exactly one PIN form and
// carry backend lists that serve can use as they are (the lists go to Studio as JSON text, and
// come back in the call's start as backendHosts).
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "proxy/callers/pin_directory.h"
#include "proxy/media/backend_target.h"

using namespace callproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 256 * 1024) return -1;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto pins = proxy::parse_pins(text);
  if (!pins) {
    fuzz::require(!pins.error().empty(), "a refused pins file without a reason");
    return 0;
  }
  for (const auto& entry : pins.value()) {
    fuzz::require(entry.pin.empty() != entry.pin_sha256.empty(), "an entry without exactly one PIN form");
    if (!entry.pin_sha256.empty()) {
      fuzz::require(
          entry.pin_sha256.size() == 64 && entry.pin_sha256.find_first_not_of("0123456789abcdef") == std::string::npos,
          "an entry's pin_sha256 is not 64 lowercase hex digits");
    }
    const auto ids = nlohmann::json::parse(entry.backend_ids, nullptr, false);
    fuzz::require(ids.is_array(), "an entry's backendIds is not a JSON list", entry.backend_ids);
    // Studio hands backendHosts back in the call's start: it must read as a start's would.
    const auto hosts = proxy::parse_backend_hosts(entry.backend_hosts);
    fuzz::require(hosts.ok(), "an entry's backendHosts does not read back as backendHosts", entry.backend_hosts);
    for (const auto& host : hosts.value()) {
      fuzz::require(proxy::parse_backend(host).ok(), "an entry's backend does not parse", host);
    }
  }
  return 0;
}
