// What a peer sends down a media stream or a backend link, read frame by frame as
// net/raw_websocket.cpp reads it (net/websocket_frame.h). The first byte picks the role (even:
// the server side, which expects masked frames; odd: a backend link's client side). A header
// that reads is written back the same (lengths in their shortest form), unmasking twice gives
// the bytes back, a close payload read as valid names a code that may be sent, and the UTF-8
// check agrees with a byte-at-a-time reading of RFC 3629.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "net/websocket_frame.h"

using namespace callproxy::net::ws;
using callproxy::fuzz::require;

namespace {

// RFC 3629, one byte at a time: the reference the vectorised check is held to.
bool reference_utf8(std::string_view text) {
  std::size_t i = 0;
  const auto byte = [&](std::size_t at) { return static_cast<std::uint8_t>(text[at]); };
  while (i < text.size()) {
    const auto b = byte(i);
    std::size_t n;
    std::uint32_t cp;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      n = 1, cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      n = 2, cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      n = 3, cp = b & 0x07;
    } else {
      return false;
    }
    if (i + n >= text.size()) return false;  // cut short
    for (std::size_t k = 1; k <= n; ++k) {
      if ((byte(i + k) & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;  // overlong
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 64 * 1024) return -1;
  const bool server = (data[0] & 1) == 0;
  std::vector<std::uint8_t> bytes(data + 1, data + size);
  std::size_t at = 0;
  while (at < bytes.size()) {
    FrameHeader header;
    const auto result = read_frame_header(bytes.data() + at, bytes.size() - at, server, header);
    if (result.status == HeaderStatus::protocol_error) {
      require(result.error != nullptr && *result.error != '\0', "a protocol error without a reason");
      break;
    }
    if (result.status == HeaderStatus::need_more) {
      require(bytes.size() - at < max_header_bytes, "a header of more than 14 bytes asked for more");
      break;
    }
    require(
        header.header_bytes >= 2 && header.header_bytes <= max_header_bytes && header.header_bytes <= bytes.size() - at,
        "a header's size is out of range");
    require(header.masked == server, "a frame masked the wrong way for its role was accepted");
    if (is_control(header.opcode)) require(header.fin && header.length <= 125, "a control frame out of bounds read");

    // Written back, the header is the same bytes (for a final frame: what we write).
    if (header.fin) {
      std::uint8_t again[max_header_bytes];
      const auto n = write_frame_header(again, header.opcode, header.length, header.masked ? &header.key : nullptr);
      require(n == header.header_bytes && std::memcmp(again, bytes.data() + at, n) == 0,
              "a header read does not write back the same");
    }
    const auto available = bytes.size() - at - header.header_bytes;
    if (header.length > available) break;
    auto* payload = bytes.data() + at + header.header_bytes;
    const auto length = static_cast<std::size_t>(header.length);
    const std::vector<std::uint8_t> original(payload, payload + length);
    if (header.masked) {
      unmask(payload, length, header.key);
      std::vector<std::uint8_t> twice(payload, payload + length);
      unmask(twice.data(), twice.size(), header.key);
      require(twice == original, "unmasking twice does not give the bytes back");
      // Unmasking in two pieces, the second at its offset, is unmasking at once.
      std::vector<std::uint8_t> split = original;
      const auto half = split.size() / 2;
      unmask(split.data(), half, header.key);
      unmask(split.data() + half, split.size() - half, header.key, half);
      require(std::equal(split.begin(), split.end(), payload), "unmasking in pieces differs");
    }
    const std::string_view text(reinterpret_cast<const char*>(payload), length);
    require(valid_utf8(text) == reference_utf8(text), "the UTF-8 check disagrees with RFC 3629");
    if (header.opcode == Opcode::close) {
      const auto close = read_close_payload(text);
      if (close.valid && close.code != 0) {
        const auto c = close.code;
        require((c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999),
                "a close code that may not be sent was read as valid");
        require(reference_utf8(close.reason), "a close reason that is not UTF-8 was read as valid");
      }
    }
    at += header.header_bytes + length;
  }
  return 0;
}
