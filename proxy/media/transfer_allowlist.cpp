#include "proxy/media/transfer_allowlist.h"

#include "core/ascii_case.h"
#include "twilio/call_control.h"

namespace callproxy::proxy {
namespace {

bool is_number_pattern(std::string_view p) {
  if (p == "+*") return true;
  if (p.size() < 2 || p.front() != '+') return false;
  const bool prefix = p.back() == '*';
  const auto digits = p.substr(1, p.size() - 1 - (prefix ? 1 : 0));
  if (digits.empty() || digits.size() > 15 || digits.front() == '0') return false;
  for (const char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  return prefix || twilio::is_e164(p);
}

// "sip:" or "sips:", the user part, and the host part (with any port) of a pattern or a URI.
struct SipParts {
  std::string_view scheme, user, host;
};
SipParts split_sip(std::string_view uri) {
  const auto colon = uri.find(':');
  const auto at = uri.find('@');
  return {uri.substr(0, colon + 1), uri.substr(colon + 1, at - colon - 1), uri.substr(at + 1)};
}

bool is_sip_pattern(std::string_view p) {
  if (p.substr(0, 6) == "sip:*@" || p.substr(0, 7) == "sips:*@") {
    const std::string example = std::string(p.substr(0, p.find('*'))) + "x" + std::string(p.substr(p.find('*') + 1));
    return twilio::is_sip_uri(example);
  }
  return twilio::is_sip_uri(p);
}

}  // namespace

std::string transfer_pattern_error(std::string_view pattern) {
  if (is_number_pattern(pattern) || is_sip_pattern(pattern)) return {};
  std::string why = "'";
  why.append(pattern.substr(0, 80));
  why += "' is not a transfer pattern: +E.164 (+15551234567), a prefix (+1555*, +* for any number), or a SIP URI "
         "(sip:agent@pbx.example.com, sip:*@pbx.example.com)";
  return why;
}

Result<bool> TransferAllowlist::add(std::string_view pattern) {
  if (auto why = transfer_pattern_error(pattern); !why.empty()) return Error{std::move(why)};
  patterns_.emplace_back(pattern);
  return true;
}

bool TransferAllowlist::allows(std::string_view to) const {
  const bool number = twilio::is_e164(to);
  const bool sip = !number && twilio::is_sip_uri(to);
  if (!number && !sip) return false;
  for (const auto& p : patterns_) {
    if (number && p.front() == '+') {
      if (p.back() == '*' ? to.substr(0, p.size() - 1) == std::string_view(p).substr(0, p.size() - 1) : to == p) {
        return true;
      }
      continue;
    }
    if (sip && p.front() == 's') {
      const auto want = split_sip(p);
      const auto got = split_sip(to);
      if (want.scheme == got.scheme && (want.user == "*" || want.user == got.user) &&
          lower_ascii(want.host) == lower_ascii(got.host)) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace callproxy::proxy
