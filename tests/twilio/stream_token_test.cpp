// Per-call stream tokens (twilio/stream_token.h): what makes one valid, and every way one is not.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include "support/test_secrets.h"
#include "twilio/signature.h"
#include "twilio/stream_token.h"

using namespace callproxy;

namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST_CASE("stream tokens: valid for their call, backends and time, refused otherwise", "[twiml][stream-token]") {
  const std::string secret = test::secrets::stream_token_secret;
  const std::string hosts = R"(["127.0.0.1:8888"])";
  const auto now = unix_now();
  const auto token = twilio::mint_stream_token(secret, "CA1", hosts, now + 60);
  CHECK(token.rfind("v1." + std::to_string(now + 60) + ".", 0) == 0);
  CHECK(token.size() < twilio::max_stream_token_chars);
  using V = twilio::StreamTokenVerdict;
  CHECK(twilio::check_stream_token(secret, token, "CA1", hosts, now) == V::valid);
  CHECK(twilio::check_stream_token(secret, "", "CA1", hosts, now) == V::missing);
  CHECK(twilio::check_stream_token(secret, token, "CA2", hosts, now) == V::mismatch);
  CHECK(twilio::check_stream_token(secret, token, "CA1", R"(["127.0.0.1:9999"])", now) == V::mismatch);
  CHECK(twilio::check_stream_token(secret, token, "CA1", "", now) == V::mismatch);
  CHECK(twilio::check_stream_token("another-secret-of-16", token, "CA1", hosts, now) == V::mismatch);
  CHECK(twilio::check_stream_token(secret, token, "CA1", hosts, now + 60) == V::expired);
  // A later expiry written into the token is a different MAC.
  auto stretched = token;
  stretched.replace(3, std::to_string(now + 60).size(), std::to_string(now + 6000));
  CHECK(twilio::check_stream_token(secret, stretched, "CA1", hosts, now + 100) == V::mismatch);
  // Field boundaries count: a SID and hosts that concatenate alike are different calls.
  CHECK(twilio::check_stream_token(secret, twilio::mint_stream_token(secret, "CA1[", "\"x\"]", now + 60), "CA1",
                                   "[\"x\"]", now) == V::mismatch);
  for (const auto* bad :
       {"v1", "v1.", "v1..abc", "v2.1.abc", "v1.-5.abc", "v1.12x.abc", "v1.99999999999999999999.a", "v1.+12.abc"}) {
    INFO(bad);
    CHECK(twilio::check_stream_token(secret, bad, "CA1", hosts, now) == V::malformed);
  }
  // The expiry only as minted: a zero in front would be the same MAC under another text, and so
  // another single-use claim for the same token.
  CHECK(twilio::check_stream_token(secret, "v1.0" + token.substr(3), "CA1", hosts, now) == V::malformed);
  CHECK(twilio::check_stream_token(secret, "v1.00" + token.substr(3), "CA1", hosts, now) == V::malformed);
  CHECK(twilio::check_stream_token(secret, std::string(200, 'v'), "CA1", hosts, now) == V::malformed);
  CHECK(twilio::describe(V::mismatch) == "invalid stream token");
  CHECK(twilio::describe(V::expired) == "expired stream token");
  // What a store remembers a used token by: a digest, not the token; and until when.
  CHECK(twilio::stream_token_id(token) == twilio::sha256_hex(token));
  CHECK(twilio::stream_token_id(token).find(token.substr(token.rfind('.') + 1)) == std::string::npos);
  CHECK(twilio::stream_token_expiry(token) == now + 60);
  CHECK(twilio::stream_token_expiry("v1.x.y") == -1);
}
