// What the fuzz targets share: a broken invariant aborts with what was expected (libFuzzer then
// saves the input), and inputs made of lines.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace callproxy::fuzz {

// Aborts, naming the invariant, when `holds` is false.
inline void require(bool holds, std::string_view invariant, std::string_view detail = {}) {
  if (holds) return;
  std::fprintf(stderr, "fuzz invariant broken: %.*s\n", static_cast<int>(invariant.size()), invariant.data());
  if (!detail.empty()) std::fprintf(stderr, "  %.*s\n", static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// The input's text up to the first '\n' (taken off `rest`), for inputs made of lines.
inline std::string_view take_line(std::string_view& rest) {
  const auto end = rest.find('\n');
  const auto line = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  return line;
}

}  // namespace callproxy::fuzz
