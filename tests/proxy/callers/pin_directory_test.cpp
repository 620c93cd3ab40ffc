// The callers API's units: withheld caller IDs, and the PIN directory (the pins file, parsed and
// looked up). Through the real binary: callers_test.cpp.
#include <catch2/catch.hpp>

#include <string>
#include <utility>

#include "proxy/callers/caller_routes.h"
#include "proxy/callers/pin_directory.h"

using namespace callproxy;

namespace {

const std::string demo_pins = std::string(CALLPROXY_ASSETS) + "/demo-pins.json";

}  // namespace

TEST_CASE("withheld caller IDs are recognised in every form Twilio uses", "[callers]") {
  for (const auto* id : {"RESTRICTED", "restricted", "+7378742833", "7378742833", "Blocked", "2562533", "unknown",
                         "8656696", "ANONYMOUS", "+266696687", "unavailable", "86282452253", "464", "+464", ""}) {
    INFO(id);
    CHECK(proxy::is_withheld_caller(id));
  }
  for (const auto* id : {"+15551234567", "anonymous1", "46", "+4645"}) {
    INFO(id);
    CHECK_FALSE(proxy::is_withheld_caller(id));
  }
}

TEST_CASE("a bad pins file is refused with the entry and field named", "[callers][pins]") {
  CHECK(proxy::parse_pins("[{\"pin\":\"1\"}]").ok());
  const std::pair<const char*, const char*> cases[] = {
      {"{}", "expected a JSON list"},
      {"[1]", "entry 1: must be an object"},
      {R"([{"pin":"1"},{"backendHosts":[]}])", "entry 2: needs exactly one of 'pin' and 'pin_sha256'"},
      {R"([{"pin":"1","pin_sha256":"x"}])", "entry 1: needs exactly one"},
      {R"([{"pin":12}])", "entry 1: 'pin' must be a non-empty string"},
      {R"([{"pin_sha256":"ABC"}])", "entry 1: 'pin_sha256' must be 64 lowercase hex digits"},
      {R"([{"pin":"1","backendHosts":"x:1"}])", "entry 1: 'backendHosts' must be a list"},
      {R"([{"pin":"1","backendHosts":["no host"]}])", "entry 1: backend 'no host'"},
      {"[{\"pin\":\n\"1\",,}]", "line 2"},
  };
  for (const auto& [text, message] : cases) {
    INFO(text);
    const auto parsed = proxy::parse_pins(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.error(), Catch::Contains(message));
  }
}

TEST_CASE("PINs are found as plain text or by SHA-256", "[callers][pins]") {
  proxy::PinDirectory pins(demo_pins);
  CHECK(pins.size() == 2);
  const auto plain = pins.find("1234");
  REQUIRE(plain);
  CHECK(plain->backend_hosts == R"(["localhost:8888"])");
  CHECK(plain->backend_ids == "[1]");
  const auto hashed = pins.find("4321");
  REQUIRE(hashed);
  CHECK(hashed->backend_ids == "[2]");
  CHECK_FALSE(pins.find("12345"));
  CHECK_FALSE(pins.find(""));
  CHECK_FALSE(proxy::PinDirectory("").find("1234"));
}
