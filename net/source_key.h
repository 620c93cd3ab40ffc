// The key under which one source's connections and failures are counted: an IPv4 address as it
// is, an IPv6 address by its /64 (one subscriber's prefix, which a single host may rotate through
// freely). Per-source budgets and caps (PIN failures, connections) count under it.
#pragma once

#include <string>
#include <string_view>

namespace callproxy::net {

// `address` as text ("203.0.113.7", "2001:db8::1"); anything unparsable is used as given.
std::string source_key(std::string_view address);

}  // namespace callproxy::net
