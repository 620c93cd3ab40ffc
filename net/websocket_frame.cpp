#include "net/websocket_frame.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <simdjson.h>

#include <bit>
#include <cstring>

namespace callproxy::net::ws {

HeaderResult read_frame_header(const std::uint8_t* data, std::size_t size, bool expect_masked, FrameHeader& header) {
  if (size < 2) return {HeaderStatus::need_more};
  const std::uint8_t b0 = data[0];
  const std::uint8_t b1 = data[1];
  if ((b0 & 0x70) != 0) return {HeaderStatus::protocol_error, "reserved bits set"};
  const auto op = static_cast<std::uint8_t>(b0 & 0x0F);
  switch (op) {
    case 0:
    case 1:
    case 2:
    case 8:
    case 9:
    case 10: break;
    default: return {HeaderStatus::protocol_error, "unknown opcode"};
  }
  header.fin = (b0 & 0x80) != 0;
  header.opcode = static_cast<Opcode>(op);
  header.masked = (b1 & 0x80) != 0;
  if (header.masked != expect_masked) {
    return {HeaderStatus::protocol_error, expect_masked ? "unmasked client frame" : "masked server frame"};
  }
  std::uint64_t length = b1 & 0x7F;
  std::size_t at = 2;
  if (length == 126) {
    if (size < 4) return {HeaderStatus::need_more};
    length = (std::uint64_t{data[2]} << 8) | data[3];
    if (length < 126) return {HeaderStatus::protocol_error, "length not in its shortest form"};
    at = 4;
  } else if (length == 127) {
    if (size < 10) return {HeaderStatus::need_more};
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | data[2 + i];
    if ((length >> 63) != 0) return {HeaderStatus::protocol_error, "length with its top bit set"};
    if (length <= 0xFFFF) return {HeaderStatus::protocol_error, "length not in its shortest form"};
    at = 10;
  }
  if (is_control(header.opcode)) {
    if (!header.fin) return {HeaderStatus::protocol_error, "fragmented control frame"};
    if (length > 125) return {HeaderStatus::protocol_error, "control frame over 125 bytes"};
  }
  if (header.masked) {
    if (size < at + 4) return {HeaderStatus::need_more};
    std::memcpy(header.key.data(), data + at, 4);
    at += 4;
  } else {
    header.key = {};
  }
  header.length = length;
  header.header_bytes = at;
  return {HeaderStatus::complete};
}

void unmask(std::uint8_t* data, std::size_t size, const std::array<std::uint8_t, 4>& key, std::uint64_t offset) {
  // The key rotated to start at `offset` (one 32-bit rotate), repeated over 16 bytes: whole
  // vectors are XORed at once (GCC/Clang vector extensions: SSE2 on x86-64, NEON on ARM).
  using Words = std::uint32_t __attribute__((vector_size(16)));
  using Vector = std::uint8_t __attribute__((vector_size(16)));
  std::uint32_t word;
  std::memcpy(&word, key.data(), 4);
  const auto turn = static_cast<int>(offset & 3) * 8;
  word = std::endian::native == std::endian::little ? std::rotr(word, turn) : std::rotl(word, turn);
  const Words words = Words{} + word;
  Vector vector_key;
  std::memcpy(&vector_key, &words, 16);
  std::size_t i = 0;
  for (; i + 16 <= size; i += 16) {
    Vector block;
    std::memcpy(&block, data + i, 16);
    block ^= vector_key;
    std::memcpy(data + i, &block, 16);
  }
  for (; i < size; ++i) data[i] ^= vector_key[i & 15];
}

std::size_t write_frame_header(std::uint8_t* out, Opcode opcode, std::uint64_t length,
                               const std::array<std::uint8_t, 4>* key) {
  out[0] = static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(opcode));
  const std::uint8_t mask_bit = key ? 0x80 : 0;
  std::size_t at;
  if (length < 126) {
    out[1] = static_cast<std::uint8_t>(mask_bit | length);
    at = 2;
  } else if (length <= 0xFFFF) {
    out[1] = static_cast<std::uint8_t>(mask_bit | 126);
    out[2] = static_cast<std::uint8_t>(length >> 8);
    out[3] = static_cast<std::uint8_t>(length);
    at = 4;
  } else {
    out[1] = static_cast<std::uint8_t>(mask_bit | 127);
    for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<std::uint8_t>(length >> (56 - 8 * i));
    at = 10;
  }
  if (key) {
    std::memcpy(out + at, key->data(), 4);
    at += 4;
  }
  return at;
}

bool valid_utf8(std::string_view text) { return simdjson::validate_utf8(text.data(), text.size()); }

ClosePayload read_close_payload(std::string_view payload) {
  if (payload.empty()) return {true, 0, {}};
  if (payload.size() < 2) return {};
  const auto code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                               static_cast<std::uint8_t>(payload[1]));
  const bool sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                        (code >= 3000 && code <= 4999);
  const auto reason = payload.substr(2);
  if (!sendable || !valid_utf8(reason)) return {};
  return {true, code, reason};
}

namespace {
constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
}

std::string encode_base64(const std::uint8_t* data, std::size_t size) {
  std::string encoded(4 * ((size + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), data, static_cast<int>(size));
  encoded.resize(static_cast<std::size_t>(n));
  return encoded;
}

std::string accept_key(std::string_view client_key) {
  std::string input(client_key);
  input += websocket_guid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return encode_base64(digest, SHA_DIGEST_LENGTH);
}

bool valid_client_key(std::string_view key) {
  // 16 bytes in base64: 22 characters of the alphabet, then "==".
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (std::size_t i = 0; i < 22; ++i) {
    const char c = key[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!ok) return false;
  }
  // The last character's low 4 bits carry no data and must be zero (canonical form).
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  return (alphabet.find(key[21]) & 0x0F) == 0;
}

}  // namespace callproxy::net::ws
