// What a log line keeps of text a peer chose (a path, a URL, a SID, a method): at most a bounded
// number of bytes, cut on a UTF-8 character boundary, with "…" saying that it was cut. A client
// can make such text as long as the 16 KiB header limit or a 64 KiB message allows; a log line
// per request or message of that size would be the cheapest flood there is.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace callproxy {

constexpr std::size_t max_logged_bytes = 256;

inline std::string logged_text(std::string_view text, std::size_t max_bytes = max_logged_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
  return std::string(text.substr(0, cut)) + "…";
}

}  // namespace callproxy
