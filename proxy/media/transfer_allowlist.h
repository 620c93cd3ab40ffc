// --transfer-allow: where a bot may send its call ({"event":"transfer","to":…}). A bot is a
// program a caller talks to: it must not be able to dial premium or foreign numbers because a
// caller asked it to. Empty: no transfer is allowed.
//   +15551234567      that number only
//   +1555*            numbers that start with +1555 (+* : any number)
//   sip:agent@pbx.example.com    that URI (sips: likewise; the host without case)
//   sip:*@pbx.example.com        any user at that host (and port, when the pattern names one)
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace callproxy::proxy {

class TransferAllowlist {
 public:
  // Adds one pattern; an error says what a pattern may be.
  Result<bool> add(std::string_view pattern);
  // `to` is a checked target (twilio::is_e164 or twilio::is_sip_uri).
  bool allows(std::string_view to) const;
  bool empty() const { return patterns_.empty(); }
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  std::vector<std::string> patterns_;
};

// Checks one --transfer-allow pattern (for the CLI): empty when fine, else why not.
std::string transfer_pattern_error(std::string_view pattern);

}  // namespace callproxy::proxy
