// RFC 6455 framing (net/websocket_frame.h): headers read and written, masks, close payloads,
// UTF-8 and the handshake's key, against the RFC's own examples where it has them.
#include "net/websocket_frame.h"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using namespace callproxy::net::ws;

namespace {

std::vector<std::uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<std::uint8_t> out;
  for (int b : list) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

HeaderResult read(const std::vector<std::uint8_t>& data, bool masked, FrameHeader& header) {
  return read_frame_header(data.data(), data.size(), masked, header);
}

}  // namespace

TEST_CASE("frame headers from RFC 6455's examples are read", "[websocket]") {
  FrameHeader header;
  // 5.7: a single-frame unmasked text message "Hello" (a server's frame).
  auto unmasked = bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
  REQUIRE(read(unmasked, false, header).status == HeaderStatus::complete);
  CHECK(header.fin);
  CHECK(header.opcode == Opcode::text);
  CHECK(header.length == 5);
  CHECK(header.header_bytes == 2);

  // 5.7: the same, masked (a client's frame), unmasked back to "Hello".
  auto masked = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  REQUIRE(read(masked, true, header).status == HeaderStatus::complete);
  CHECK(header.header_bytes == 6);
  unmask(masked.data() + 6, 5, header.key);
  CHECK(std::string(masked.begin() + 6, masked.end()) == "Hello");

  // 5.7: a fragmented message's first frame and an unmasked ping.
  REQUIRE(read(bytes({0x01, 0x03, 0x48, 0x65, 0x6c}), false, header).status == HeaderStatus::complete);
  CHECK_FALSE(header.fin);
  REQUIRE(read(bytes({0x89, 0x05}), false, header).status == HeaderStatus::complete);
  CHECK(header.opcode == Opcode::ping);

  // 5.7: 256 bytes (16-bit length) and 64 KiB (64-bit length) binary messages.
  REQUIRE(read(bytes({0x82, 0x7E, 0x01, 0x00}), false, header).status == HeaderStatus::complete);
  CHECK(header.length == 256);
  CHECK(header.header_bytes == 4);
  REQUIRE(read(bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}), false, header).status == HeaderStatus::complete);
  CHECK(header.length == 65536);
  CHECK(header.header_bytes == 10);
}

TEST_CASE("a header cut short asks for more bytes, whatever the cut", "[websocket]") {
  const auto full = bytes({0x81, 0xFE, 0x01, 0x00, 1, 2, 3, 4});
  FrameHeader header;
  for (std::size_t n = 0; n < full.size(); ++n) {
    CHECK(read_frame_header(full.data(), n, true, header).status == HeaderStatus::need_more);
  }
  CHECK(read_frame_header(full.data(), full.size(), true, header).status == HeaderStatus::complete);
}

TEST_CASE("frames that break RFC 6455 are protocol errors, each named", "[websocket]") {
  FrameHeader header;
  const auto error = [&](std::vector<std::uint8_t> data, bool masked) {
    const auto result = read(data, masked, header);
    CHECK(result.status == HeaderStatus::protocol_error);
    return std::string(result.error);
  };
  CHECK(error(bytes({0xC1, 0x80, 0, 0, 0, 0}), true) == "reserved bits set");  // RSV1: compression never agreed
  CHECK(error(bytes({0x83, 0x80, 0, 0, 0, 0}), true) == "unknown opcode");
  CHECK(error(bytes({0x8B, 0x80, 0, 0, 0, 0}), true) == "unknown opcode");
  CHECK(error(bytes({0x81, 0x00}), true) == "unmasked client frame");
  CHECK(error(bytes({0x81, 0x80, 0, 0, 0, 0}), false) == "masked server frame");
  CHECK(error(bytes({0x09, 0x80, 0, 0, 0, 0}), true) == "fragmented control frame");
  CHECK(error(bytes({0x89, 0xFE, 0x00, 0x7E}), true) == "control frame over 125 bytes");
  CHECK(error(bytes({0x81, 0xFE, 0x00, 0x05}), true) == "length not in its shortest form");
  CHECK(error(bytes({0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}), true) == "length not in its shortest form");
  CHECK(error(bytes({0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0}), true) == "length with its top bit set");
}

TEST_CASE("written headers read back, masked or not, at every length boundary", "[websocket]") {
  const std::array<std::uint8_t, 4> key{0x12, 0x34, 0x56, 0x78};
  for (std::uint64_t length : {0ULL, 1ULL, 125ULL, 126ULL, 65535ULL, 65536ULL, 1ULL << 40}) {
    for (bool masked : {false, true}) {
      std::uint8_t out[max_header_bytes];
      const auto size = write_frame_header(out, Opcode::text, length, masked ? &key : nullptr);
      FrameHeader header;
      REQUIRE(read_frame_header(out, size, masked, header).status == HeaderStatus::complete);
      CHECK(header.length == length);
      CHECK(header.header_bytes == size);
      CHECK(header.fin);
      if (masked) CHECK(header.key == key);
    }
  }
}

TEST_CASE("unmasking matches the byte-by-byte definition at every offset and length", "[websocket]") {
  std::mt19937 random(7);
  const std::array<std::uint8_t, 4> key{0xA1, 0x02, 0xF3, 0x44};
  for (std::size_t size = 0; size < 80; ++size) {
    for (std::uint64_t offset = 0; offset < 4; ++offset) {
      std::vector<std::uint8_t> data(size);
      for (auto& b : data) b = static_cast<std::uint8_t>(random());
      auto expected = data;
      for (std::size_t i = 0; i < size; ++i) expected[i] ^= key[(offset + i) % 4];
      unmask(data.data(), data.size(), key, offset);
      CHECK(data == expected);
    }
  }
}

TEST_CASE("close payloads: codes that may be sent, a UTF-8 reason", "[websocket]") {
  CHECK(read_close_payload("").valid);
  CHECK(read_close_payload("").code == 0);
  const std::string payload("\x03\xE8going", 7);  // the reason is a view into it
  const auto normal = read_close_payload(payload);
  CHECK(normal.valid);
  CHECK(normal.code == 1000);
  CHECK(normal.reason == "going");
  CHECK_FALSE(read_close_payload("\x03").valid);                              // one byte
  CHECK_FALSE(read_close_payload(std::string("\x03\xED", 2)).valid);          // 1005: never sent
  CHECK_FALSE(read_close_payload(std::string("\x03\xEE", 2)).valid);          // 1006: never sent
  CHECK_FALSE(read_close_payload(std::string("\x03\xE7", 2)).valid);          // 999
  CHECK_FALSE(read_close_payload(std::string("\x13\x88", 2)).valid);          // 5000
  CHECK(read_close_payload(std::string("\x0F\xA0", 2)).valid);                // 4000: private use
  CHECK_FALSE(read_close_payload(std::string("\x03\xE8\xC3\x28", 4)).valid);  // reason not UTF-8
}

TEST_CASE("UTF-8: well-formed text passes, every malformed kind fails", "[websocket]") {
  CHECK(valid_utf8(""));
  CHECK(valid_utf8("plain ASCII {\"event\":\"media\"}"));
  CHECK(valid_utf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x93\x9E"));  // é € 📞
  CHECK_FALSE(valid_utf8("\xC3"));                            // cut short
  CHECK_FALSE(valid_utf8("\xC3\x28"));                        // bad continuation
  CHECK_FALSE(valid_utf8("\xC0\xAF"));                        // overlong
  CHECK_FALSE(valid_utf8("\xED\xA0\x80"));                    // a surrogate
  CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));                // past U+10FFFF
  CHECK_FALSE(valid_utf8("\xFF"));
}

TEST_CASE("the handshake's keys: RFC 6455's example and what a key must look like", "[websocket]") {
  CHECK(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(valid_client_key("dGhlIHNhbXBsZSBub25jZQ=="));
  CHECK_FALSE(valid_client_key(""));
  CHECK_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ"));      // no padding
  CHECK_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZR=="));    // not canonical (stray low bits)
  CHECK_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25j!Q=="));    // not base64
  CHECK_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ==AA"));  // not 16 bytes
}
