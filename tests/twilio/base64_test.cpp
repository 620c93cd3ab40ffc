#include <catch2/catch.hpp>

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
