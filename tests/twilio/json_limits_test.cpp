// JSON from outside is refused beyond twilio::max_json_depth, before it is parsed.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "proxy/callers/pin_directory.h"
#include "proxy/media/backend_target.h"
#include "speaker/backend_event.h"
#include "twilio/json_limits.h"
#include "twilio/media_message.h"

using namespace callproxy;

namespace {

std::string nested(std::size_t depth, const std::string& inside = "") {
  return std::string(depth, '[') + inside + std::string(depth, ']');
}

}  // namespace

TEST_CASE("JSON value bound: never below the values parsed, commas and brackets in strings not counted", "[json]") {
  const auto parsed_values = [](const std::string& text) {
    std::size_t n = 0;
    const auto count = [&n](auto& self, const nlohmann::json& v) -> void {
      ++n;
      if (v.is_structured()) {
        for (const auto& child : v) self(self, child);
      }
    };
    count(count, nlohmann::json::parse(text));
    return n;
  };
  for (const std::string text : {"1", "[]", "{}", "[1,2,3]", R"({"a":[1,[2,{}]],"b":"x"})", "[[0,0],[0,0],[0,0]]",
                                 R"(["a,b,[c", "\\",{"k":"\","}])"}) {
    INFO(text);
    CHECK(twilio::json_value_bound(text) >= parsed_values(text));
  }
  CHECK(twilio::json_value_bound(R"(["a,b,[c", "\\",{"k":"\","}])") ==
        5);  // 1, [, two commas, {: the strings add nothing
  std::string many = "[0";
  for (int i = 0; i < 9999; ++i) many += ",0";
  CHECK(twilio::json_value_bound(many + "]") == 10001);
}

TEST_CASE("JSON depth: the limit passes and one deeper is refused and brackets in strings do not count", "[json]") {
  CHECK(twilio::json_depth_within(nested(32), 32));
  CHECK_FALSE(twilio::json_depth_within(nested(33), 32));
  CHECK(twilio::json_depth_within(R"({"a":{"b":[1]}})", 3));
  CHECK_FALSE(twilio::json_depth_within(R"({"a":{"b":[{}]}})", 3));
  // Brackets inside strings, escaped quotes and escaped backslashes included, are text.
  CHECK(twilio::json_depth_within(R"(["[[[[", "\"[[[[", "\\", "{{{{"])", 1));
  CHECK_FALSE(twilio::json_depth_within(R"(["\\", [])", 1));  // the string ends after "\\"
  CHECK(twilio::json_depth_within("", 0));
  CHECK(twilio::json_depth_within("]]]][", 1));  // unbalanced: the parser's to refuse

  const auto at_limit = twilio::parse_json_bounded(nested(twilio::max_json_depth, "1"));
  REQUIRE(at_limit.ok());
  CHECK(at_limit.value().dump() == nested(twilio::max_json_depth, "1"));
  const auto deeper = twilio::parse_json_bounded(nested(twilio::max_json_depth + 1, "1"));
  REQUIRE_FALSE(deeper.ok());
  CHECK(deeper.error() == "JSON nested deeper than 32 levels");
  CHECK(twilio::parse_json_bounded("{nope").error() == "not valid JSON");
  CHECK(twilio::parse_json_bounded(R"({"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["})").ok());
}

TEST_CASE("JSON depth: 100000 levels are refused at once without recursion", "[json]") {
  const auto text = R"({"a":)" + nested(100'000) + "}";
  const auto started = std::chrono::steady_clock::now();
  const auto parsed = twilio::parse_json_bounded(text);
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(parsed.ok());
  CHECK_THAT(parsed.error(), Catch::Contains("nested deeper"));
  CHECK(took < std::chrono::seconds(1));  // one pass; it stops at level 33
}

TEST_CASE("every parser of outside JSON refuses deep nesting with an error", "[json][messages]") {
  const std::string deep = nested(100'000);
  // Twilio's media-stream messages: a field nested deep inside an otherwise good message.
  const auto media = twilio::parse_twilio_message(R"({"event":"media","media":{"payload":"AAAA","extra":)" + deep +
                                                  R"(},"streamSid":"MZ1"})");
  REQUIRE_FALSE(media.ok());
  CHECK_THAT(media.error(), Catch::Contains("nested deeper than 32 levels"));
  // Backend replies.
  const auto reply = twilio::parse_reply_message(R"({"event":"media","media":"AAAA","x":)" + deep + "}");
  REQUIRE_FALSE(reply.ok());
  CHECK_THAT(reply.error(), Catch::Contains("nested deeper"));
  // What local-speaker receives.
  CHECK_FALSE(speaker::decode_backend_message(R"({"event":"media","media":"AAAA","x":)" + deep + "}").ok());
  // Studio's backendHosts parameter and the pins file.
  CHECK_FALSE(proxy::parse_backend_hosts(R"(["a:1",)" + deep + "]").ok());
  const auto pins = proxy::parse_pins(R"([{"pin":"1","backendIds":)" + deep + "}]");
  REQUIRE_FALSE(pins.ok());
  CHECK_THAT(pins.error(), Catch::Contains("nested deeper"));
  // Depth that real messages have still parses.
  CHECK(twilio::parse_twilio_message(R"({"event":"media","media":{"payload":"AAAA"},"x":[[[1]]]})").ok());
}
