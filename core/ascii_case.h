// ASCII case folding, for what protocols say is case-insensitive ASCII: URL schemes and host
// names, HTTP header and field names. A-Z become a-z and every other byte stays as it is,
// whatever the C library's locale would say. One definition, so no two parts of the program fold
// a name differently.
#pragma once

#include <string>
#include <string_view>

namespace callproxy {

constexpr char lower_ascii(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = lower_ascii(c);
  return out;
}

}  // namespace callproxy
