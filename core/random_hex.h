// Random hex digits for ids that must not repeat (a stream's claim on an execution mark, which
// other instances sharing a Redis see too; a new X-Request-Id): per thread, no lock; the generator
// is seeded with 128 bits from the system's random source. Not for secrets.
#pragma once

#include <cstddef>
#include <random>
#include <string>

namespace callproxy {

inline std::string random_hex(std::size_t digits) {
  thread_local std::mt19937_64 random = [] {
    std::random_device source;
    std::seed_seq seed{source(), source(), source(), source()};
    return std::mt19937_64(seed);
  }();
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(digits);
  while (out.size() < digits) {
    auto bits = random();
    for (int i = 0; i < 16 && out.size() < digits; ++i, bits >>= 4) out += hex[bits & 0xf];
  }
  return out;
}

}  // namespace callproxy
