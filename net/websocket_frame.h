// RFC 6455 framing without a stream library: frame headers read and written, payloads unmasked in
// place, UTF-8 checked, the handshake's accept key. Used where the media path owns its sockets
// (net/raw_websocket.h); free of Asio and Beast, so it is unit-tested and fuzzed on its own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace callproxy::net::ws {

enum class Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

inline bool is_control(Opcode op) { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

struct FrameHeader {
  bool fin = false;
  Opcode opcode = Opcode::continuation;
  bool masked = false;
  std::array<std::uint8_t, 4> key{};
  std::uint64_t length = 0;      // payload bytes
  std::size_t header_bytes = 0;  // 2..14
};

enum class HeaderStatus {
  complete,        // `header` is filled
  need_more,       // fewer bytes than the header needs
  protocol_error,  // the peer broke RFC 6455 (close 1002); `error` says how
};

struct HeaderResult {
  HeaderStatus status = HeaderStatus::need_more;
  const char* error = "";
};

// Reads the frame header at the start of `data`. Refused as protocol errors: reserved bits set
// (no extension is ever negotiated), unknown opcodes, fragmented or over-125-byte control
// frames, lengths not in their shortest form or with the top bit set, and a frame whose mask
// bit is not `expect_masked` (clients mask, servers do not).
HeaderResult read_frame_header(const std::uint8_t* data, std::size_t size, bool expect_masked, FrameHeader& header);

// XORs `size` bytes with `key`, the first byte at position `offset` of the frame's payload.
void unmask(std::uint8_t* data, std::size_t size, const std::array<std::uint8_t, 4>& key, std::uint64_t offset = 0);

constexpr std::size_t max_header_bytes = 14;

// Writes a final frame's header for a `length`-byte payload into `out` (max_header_bytes room);
// returns its size. With `key`, the mask bit is set and the key written (the payload must then
// be masked with it).
std::size_t write_frame_header(std::uint8_t* out, Opcode opcode, std::uint64_t length,
                               const std::array<std::uint8_t, 4>* key = nullptr);

// Whether `text` is well-formed UTF-8 (what a text message must be: close 1007 otherwise).
bool valid_utf8(std::string_view text);

// A close frame's payload. Valid: empty, or a 2-byte code that may be sent (1000-1003, 1007-1014,
// 3000-4999) and a UTF-8 reason.
struct ClosePayload {
  bool valid = false;
  std::uint16_t code = 0;  // 0: none given (1005)
  std::string_view reason;
};
ClosePayload read_close_payload(std::string_view payload);

// Base64 of `size` bytes (a client's Sec-WebSocket-Key is that of 16 random bytes).
std::string encode_base64(const std::uint8_t* data, std::size_t size);
// Sec-WebSocket-Accept for a request's Sec-WebSocket-Key.
std::string accept_key(std::string_view client_key);
// Whether a Sec-WebSocket-Key is what RFC 6455 requires: base64 of 16 bytes.
bool valid_client_key(std::string_view key);

}  // namespace callproxy::net::ws
