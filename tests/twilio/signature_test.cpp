#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "test_data.h"
#include "twilio/signature.h"

using namespace callproxy;
using namespace callproxy::twilio;
using nlohmann::json;

namespace {

json load_vectors() {
  const auto vectors = json::parse(test::read_file(test::data_path("twilio-signatures.json")));
  REQUIRE(vectors.is_array());
  REQUIRE(vectors.size() >= 60);
  return vectors;
}

// The vector's params as they would arrive: an array value is a repeated key.
RequestParams params_of(const json& vector) {
  RequestParams params;
  for (const auto& [key, value] : vector.at("params").items()) {
    if (value.is_array()) {
      for (const auto& v : value) params.emplace_back(key, v.get<std::string>());
    } else {
      params.emplace_back(key, value.get<std::string>());
    }
  }
  return params;
}

SignatureVerdict verdict_for(const json& vector, const std::string& signature, const std::string& url) {
  const SignatureValidator validator(vector.at("auth_token").get<std::string>());
  if (vector.at("kind") == "body") {
    return validator.validate_with_body(signature, url, vector.at("body").get<std::string>());
  }
  return validator.validate(signature, url, params_of(vector));
}

}  // namespace

TEST_CASE("signatures computed over each vector's URL and params equal Twilio's", "[signature]") {
  for (const auto& vector : load_vectors()) {
    INFO(vector.at("name").get<std::string>());
    CHECK(compute_signature(vector.at("auth_token").get<std::string>(), vector.at("url").get<std::string>(),
                            params_of(vector)) == vector.at("expected_signature").get<std::string>());
  }
}

TEST_CASE("the validator's verdict on every vector equals Twilio's", "[signature]") {
  std::size_t negatives = 0;
  for (const auto& vector : load_vectors()) {
    INFO(vector.at("name").get<std::string>());
    const bool valid = verdict_for(vector, vector.at("signature"), vector.at("url")) == SignatureVerdict::valid;
    CHECK(valid == vector.at("expected_valid").get<bool>());
    if (!vector.at("expected_valid").get<bool>()) ++negatives;
  }
  CHECK(negatives >= 10);  // the file's negative vectors really were exercised
}

TEST_CASE("signatures over the URL variants Twilio's library accepts are accepted", "[signature]") {
  std::size_t checked = 0;
  for (const auto& vector : load_vectors()) {
    for (const auto& also : vector.at("also_valid_urls")) {
      INFO(vector.at("name").get<std::string>() << " via " << also.at("url").get<std::string>());
      CHECK(verdict_for(vector, also.at("signature"), vector.at("url")) == SignatureVerdict::valid);
      ++checked;
    }
  }
  CHECK(checked >= 60);
}

TEST_CASE("body vectors carry the SHA-256 of their body", "[signature]") {
  for (const auto& vector : load_vectors()) {
    if (vector.at("kind") != "body" || !vector.contains("base_url")) continue;
    INFO(vector.at("name").get<std::string>());
    const auto body = vector.at("body").get<std::string>();
    CHECK(sha256_hex(body) == vector.at("body_sha256").get<std::string>());
    if (vector.at("expected_valid").get<bool>()) {
      CHECK(url_with_body_hash(vector.at("base_url").get<std::string>(), body) == vector.at("url").get<std::string>());
    }
  }
}

TEST_CASE("a wrong body, a missing hash and a bad URL are told apart", "[signature]") {
  const SignatureValidator validator("token");
  const std::string url = url_with_body_hash("https://example.com/hook", R"({"a":1})");
  const auto signature = compute_signature("token", url, {});
  CHECK(validator.validate_with_body(signature, url, R"({"a":1})") == SignatureVerdict::valid);
  CHECK(validator.validate_with_body(signature, url, R"({"a":2})") == SignatureVerdict::body_hash_mismatch);
  const auto plain_signature = compute_signature("token", "https://example.com/hook", {});
  CHECK(validator.validate_with_body(plain_signature, "https://example.com/hook", "{}") ==
        SignatureVerdict::body_hash_missing);
  CHECK(validator.validate(signature, "not a url", {}) == SignatureVerdict::invalid_url);
  CHECK(validator.validate("", url, {}) == SignatureVerdict::mismatch);
}

TEST_CASE("bodySHA256 is appended with the separator the URL needs", "[signature]") {
  const auto hash = sha256_hex("");
  CHECK(url_with_body_hash("https://h/p", "") == "https://h/p?bodySHA256=" + hash);
  CHECK(url_with_body_hash("https://h/p?a=1", "") == "https://h/p?a=1&bodySHA256=" + hash);
  CHECK(url_with_body_hash("https://h/p?", "") == "https://h/p?bodySHA256=" + hash);
  CHECK(url_with_body_hash("https://h/p?a=1&", "") == "https://h/p?a=1&bodySHA256=" + hash);
  CHECK(url_with_body_hash("https://h/p#frag", "") == "https://h/p?bodySHA256=" + hash + "#frag");
  CHECK(hash == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("query parameters are read as URLSearchParams reads them", "[signature]") {
  CHECK(query_param("https://h/p?a=1&b=x+y%21&a=2", "a") == "1");
  CHECK(query_param("https://h/p?a=1&b=x+y%21", "b") == "x y!");
  CHECK(query_param("https://h/p?flag", "flag") == "");
  CHECK_FALSE(query_param("https://h/p?a=1", "b"));
  CHECK_FALSE(query_param("https://h/p", "a"));
  CHECK(has_body_hash("https://h/p?bodySHA256=abc"));
  CHECK_FALSE(has_body_hash("https://h/p?notbodySHA256=abc"));
}

TEST_CASE("repeated keys are de-duplicated and sorted before signing", "[signature]") {
  const RequestParams shuffled{{"Tag", "b"}, {"Tag", "a"}, {"Tag", "b"}, {"X", "1"}};
  const RequestParams canonical{{"X", "1"}, {"Tag", "a"}, {"Tag", "b"}};
  CHECK(compute_signature("t", "https://h/", shuffled) == compute_signature("t", "https://h/", canonical));
  CHECK(compute_signature("t", "https://h/", shuffled) != compute_signature("t", "https://h/", {{"Tag", "a"}}));
}

TEST_CASE("constant-time comparison compares", "[signature]") {
  CHECK(constant_time_equal("abc", "abc"));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "abcd"));
  CHECK(constant_time_equal("", ""));
}

TEST_CASE("secrets are compared by fixed-size digests: equal only when equal, whatever the lengths", "[signature]") {
  CHECK(equal_secrets("a-key-of-twenty-chars", "a-key-of-twenty-chars"));
  CHECK_FALSE(equal_secrets("a-key-of-twenty-chars", "a-key-of-twenty-charz"));
  CHECK_FALSE(equal_secrets("a-key-of-twenty-chars", "a-key-of-twenty-chars-and-more"));
  CHECK_FALSE(equal_secrets("a-key", "a-key-of-twenty-chars"));
  CHECK_FALSE(equal_secrets("", "a-key-of-twenty-chars"));
  CHECK(equal_secrets(std::string("with\0nul", 8), std::string("with\0nul", 8)));
  CHECK_FALSE(equal_secrets(std::string("with\0nul", 8), "with"));
}

TEST_CASE("URL variants: default port added or removed, never another port", "[signature]") {
  const auto variants = signature_url_variants("https://Example.com/p");
  CHECK(std::find(variants.begin(), variants.end(), "https://example.com:443/p") != variants.end());
  CHECK(std::find(variants.begin(), variants.end(), "https://Example.com/p") != variants.end());
  for (const auto& v : variants) CHECK(v.find(":80") == std::string::npos);
  const auto wss = signature_url_variants("wss://h:8765/media");
  CHECK(std::find(wss.begin(), wss.end(), "wss://h/media") != wss.end());
  CHECK(std::find(wss.begin(), wss.end(), "wss://h:8765/media") != wss.end());
  CHECK(signature_url_variants("/media").empty());
  CHECK(signature_url_variants("https://:80/x").empty());
}

// Node's querystring.stringify(querystring.parse(q)) for the first query below is
// "1=y&2=x&b=1&b=3&b=4&a=2&c=~": array-index keys first, ascending, then each key at its first
// place with all its values.
TEST_CASE("the legacy variant regroups repeated query keys at their first place, as Node does", "[signature]") {
  const auto variants = signature_url_variants("https://h/p?b=1&a=2&b=3&2=x&1=y&c=%7e&b=4");
  CHECK(std::find(variants.begin(), variants.end(), "https://h/p?1=y&2=x&b=1&b=3&b=4&a=2&c=~") != variants.end());

  // Node reads the first 1,000 '&'-separated pieces, empty ones counted (querystring.parse's
  // maxKeys): for these two queries Node prints exactly what is expected here.
  std::string query;
  std::string expected;
  for (int i = 0; i < 1200; ++i) {
    const auto field = "k" + std::to_string(i) + "=" + std::to_string(i % 7);
    query += (i ? "&" : "") + field + (i == 499 ? "&k0=again" : "");
    if (i < 999) expected += (i ? "&" : "") + field + (i == 0 ? "&k0=again" : "");
  }
  const auto many = signature_url_variants("https://h/p?" + query);
  CHECK(std::find(many.begin(), many.end(), "https://h/p?" + expected) != many.end());
  std::string with_empties = "&&a=1&";
  std::string kept = "a=1";
  for (int i = 0; i < 996; ++i) {
    with_empties += "x=2&";
    kept += "&x=2";
  }
  with_empties += "b=3&c=4";
  kept += "&b=3";
  const auto empties = signature_url_variants("https://h/p?" + with_empties);
  CHECK(std::find(empties.begin(), empties.end(), "https://h/p?" + kept) != empties.end());
}

// Found by fuzzing (tests/fuzz/fuzz_signature.cpp): "mmmm://mmmm://" lost its empty port when it
// was split and joined again, so a request signed over the URL it arrived at was refused.
TEST_CASE("a request signed over the URL exactly as it arrived is valid, an empty port too", "[signature][fuzz]") {
  const SignatureValidator validator("12345");
  for (const auto* url : {"https://example.com:/validate-pin", "mmmm://mmmm://", "https://example.com/p?a=1&&b"}) {
    INFO(url);
    const auto variants = signature_url_variants(url);
    REQUIRE_FALSE(variants.empty());
    CHECK(variants.front() == url);
    CHECK(validator.validate(compute_signature("12345", url, {{"pin", "1234"}}), url, {{"pin", "1234"}}) ==
          SignatureVerdict::valid);
  }
}

// Found by fuzzing: "O://\x1d\x1d:o:" split into the host "\x1d\x1d:o", whose variants were no URLs.
TEST_CASE("a host with a ':' outside IPv6 brackets or an unclosed bracket is no URL to sign",
          "[signature][fuzz][bad-input]") {
  const SignatureValidator validator("12345");
  // And "https://[9033…" (as found, with control bytes and a NUL) opened an IPv6 literal it never closed.
  constexpr char found[] = "https://[9033\x1f\x1f\x31\0\x1fhttps:http://le.ngRok.io:443/twilio/status(W=b?bodySHA256";
  const std::string unclosed(found, sizeof found - 1);
  for (const std::string& url :
       {std::string("O://\x1d\x1d:o:"), std::string("https://a:b:443/x"), std::string("https://a:b/x"), unclosed,
        std::string("https://[::1/x"), std::string("https://[::1]x/"), std::string("https://a]b/"),
        std::string("https://a[b:443/")}) {
    INFO(url);
    CHECK(signature_url_variants(url).empty());
    CHECK(validator.validate(compute_signature("12345", url, {}), url, {}) == SignatureVerdict::invalid_url);
  }
  CHECK_FALSE(signature_url_variants("https://[::1]:443/x").empty());
  CHECK_FALSE(signature_url_variants("https://[::1]/x").empty());
}

TEST_CASE("the web's four schemes, lowercase, are the ones a public URL may have", "[signature]") {
  for (const auto* scheme : {"http", "https", "ws", "wss"}) CHECK(is_web_scheme(scheme));
  for (const auto* scheme : {"", "HTTPS", "Wss", "ftp", "file", "httpss", "htt", "https:"}) {
    INFO(scheme);
    CHECK_FALSE(is_web_scheme(scheme));
  }
  CHECK(is_signable_url("wss://proxy.example.com/media"));
  CHECK_FALSE(is_signable_url("proxy.example.com/media"));
}
