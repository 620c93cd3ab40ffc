// Caller IDs in one spelling, so that blocks and attempts find the same record.
#include <catch2/catch.hpp>

#include "proxy/callers/caller_id.h"

using callproxy::proxy::canonical_caller_id;

TEST_CASE("phone numbers in any spelling become + and ASCII digits", "[callers][caller-id]") {
  for (const char* spelling : {
           "+15557654321", "15557654321", "+1 5557654321", "+1-555-765-4321", "+1 (555) 765-4321", "1 (555) 765.4321",
           "  +15557654321 ", "\t+15557654321\r\n",
           "\xEF\xBC\x8B\xEF\xBC\x91\xEF\xBC\x95\xEF\xBC\x95\xEF\xBC\x95\xEF\xBC\x97\xEF\xBC\x96"
           "\xEF\xBC\x95\xEF\xBC\x94\xEF\xBC\x93\xEF\xBC\x92\xEF\xBC\x91",  // "＋１５５５７６５４３２１"
           "\xEF\xBC\x91\xEF\xBC\x95\xEF\xBC\x95\xEF\xBC\x95 765 4321",     // fullwidth and ASCII mixed
           "\xE3\x80\x80+1\xC2\xA0"
           "555\xE2\x80\x91"
           "765\xE2\x80\x93"
           "4321\xE3\x80\x80",  // ideographic space, NBSP, dashes
           "+1\xEF\xBC\x88"
           "555\xEF\xBC\x89\xEF\xBC\x8D"
           "765\xEF\xBC\x8E"
           "4321",  // fullwidth ( ) - .
       }) {
    INFO(spelling);
    CHECK(canonical_caller_id(spelling) == "+15557654321");
  }
}

TEST_CASE("other caller IDs only lose surrounding whitespace", "[callers][caller-id]") {
  CHECK(canonical_caller_id("client:alice") == "client:alice");
  CHECK(canonical_caller_id("  client:alice\t") == "client:alice");
  CHECK(canonical_caller_id("client:Alice") == "client:Alice");  // client names are case-sensitive
  CHECK(canonical_caller_id("sip:+15557654321@example.com") == "sip:+15557654321@example.com");
  CHECK(canonical_caller_id(" RESTRICTED ") == "RESTRICTED");
  CHECK(canonical_caller_id("1-800-FLOWERS") == "1-800-FLOWERS");
  CHECK(canonical_caller_id("1+5557654321") == "1+5557654321");  // '+' only leads
  CHECK(canonical_caller_id("+") == "+");                        // no digits: not a number
  CHECK(canonical_caller_id("  ") == "");
  CHECK(canonical_caller_id("") == "");
  CHECK(canonical_caller_id("\xFF\xFE 1") == "\xFF\xFE 1");  // not UTF-8: kept as sent
}
