// A webhook as Twilio posts it to the call flow: its form fields and their form-encoded body.
// Shared by the call flow's in-process tests and those through the real binary.
#pragma once

#include <optional>
#include <string>

#include "twilio/percent_encoding.h"
#include "twilio/signature.h"

namespace callproxy::test {

inline std::string form_body(const twilio::RequestParams& params) {
  std::string body;
  for (const auto& [k, v] : params) {
    if (!body.empty()) body += '&';
    body += twilio::percent_encode(k, "-_.~") + "=" + twilio::percent_encode(v, "-_.~");
  }
  return body;
}

// What Twilio always sends besides, and the caller's Digits when there are some.
inline twilio::RequestParams webhook(const std::string& from, const std::string& call_sid,
                                     const std::optional<std::string>& digits = std::nullopt) {
  twilio::RequestParams params{{"AccountSid", "AC0123456789abcdef0123456789abcdef"},
                               {"CallSid", call_sid},
                               {"From", from},
                               {"To", "+15550000000"},
                               {"CallStatus", "in-progress"},
                               {"Direction", "inbound"}};
  if (digits) params.emplace_back("Digits", *digits);
  return params;
}

}  // namespace callproxy::test
