#include <catch2/catch.hpp>
#include <openssl/evp.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "twilio/base64.h"

using namespace callproxy::twilio;

TEST_CASE("base64 encodes the RFC 4648 test vectors", "[base64]") {
  CHECK(base64_encode(std::string_view("")) == "");
  CHECK(base64_encode(std::string_view("f")) == "Zg==");
  CHECK(base64_encode(std::string_view("fo")) == "Zm8=");
  CHECK(base64_encode(std::string_view("foo")) == "Zm9v");
  CHECK(base64_encode(std::string_view("foob")) == "Zm9vYg==");
  CHECK(base64_encode(std::string_view("fooba")) == "Zm9vYmE=");
  CHECK(base64_encode(std::string_view("foobar")) == "Zm9vYmFy");
}

TEST_CASE("base64 decodes what it encodes, every byte value included", "[base64]") {
  std::vector<std::uint8_t> bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<std::uint8_t>(255 - i));
  for (std::size_t len : {0u, 1u, 2u, 3u, 160u, 256u}) {
    const std::vector<std::uint8_t> slice(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len));
    const auto decoded = base64_decode(base64_encode(slice));
    REQUIRE(decoded);
    CHECK(*decoded == slice);
  }
}

TEST_CASE("base64 refuses text that is not base64", "[base64]") {
  CHECK_FALSE(base64_decode("Zg="));         // bad length
  CHECK_FALSE(base64_decode("Zm9v!A=="));    // bad character
  CHECK_FALSE(base64_decode("Z==="));        // too much padding
  CHECK_FALSE(base64_decode("Zg==Zg=="));    // padding in the middle
  CHECK_FALSE(base64_decode("Zm9v\nYmFy"));  // whitespace
  CHECK(base64_decode("")->empty());
}

// OpenSSL's block coder as the reference, with the strictness callproxy adds (no whitespace, '='
// only as the last one or two characters): what base64.cpp used before its own table coders.
namespace {
std::optional<std::vector<std::uint8_t>> reference_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return std::vector<std::uint8_t>{};
  std::size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text[text.size() - 2] == '=') ++padding;
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    const char c = text[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/')) {
      return std::nullopt;
    }
  }
  std::vector<std::uint8_t> out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}
}  // namespace

TEST_CASE("base64 agrees with OpenSSL's coder on every length and on random text", "[base64]") {
  std::mt19937 random(20261207);
  for (std::size_t length = 0; length <= 1000; ++length) {
    std::vector<std::uint8_t> bytes(length);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(random());
    std::string reference(4 * ((length + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(reference.data()), bytes.data(),
                                  static_cast<int>(length));
    reference.resize(static_cast<std::size_t>(n));
    const auto encoded = base64_encode(bytes);
    REQUIRE(encoded == reference);
    const auto decoded = base64_decode(encoded);
    REQUIRE(decoded);
    REQUIRE(*decoded == bytes);
  }
  // Text from the alphabet, '=' and a few others: accepted exactly when the reference accepts it,
  // as the same bytes.
  const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/====!\n -_";
  for (int round = 0; round < 200000; ++round) {
    std::string text(4 * (1 + random() % 3), 'A');
    for (auto& c : text) c = chars[random() % chars.size()];
    const auto ours = base64_decode(text);
    const auto theirs = reference_decode(text);
    INFO(text);
    REQUIRE(ours.has_value() == theirs.has_value());
    if (ours) REQUIRE(*ours == *theirs);
  }
}
