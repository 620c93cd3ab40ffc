// The XML writer TwiML is written with (core/xml_writer.h), read back by the tests' strict reader.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "core/xml_reader.h"
#include "core/xml_writer.h"

using namespace callproxy;

TEST_CASE("the XML writer escapes & < > \" ' in text and attributes and the reader gets them back", "[twiml][xml]") {
  const std::string nasty = R"(a<b>&c"d'e]]>f)";
  XmlWriter w;
  w.open("Response").element("Say", {{"voice", nasty}, {"x", "tab\tnl\ncr\r"}}, nasty + "\n\r").close();
  const auto xml = w.finish();
  CHECK(xml.find(R"(a&lt;b&gt;&amp;c&quot;d&apos;e]]&gt;f)") != std::string::npos);
  const auto root = callproxy::parse_xml(xml);
  const auto& say = root.child("Say");
  CHECK(say.text == nasty + "\n\r");
  CHECK(say.at("voice") == nasty);
  CHECK(say.at("x") == "tab\tnl\ncr\r");  // kept as references, not normalised into spaces
}

TEST_CASE("the XML writer leaves out what XML 1.0 forbids and keeps every other character", "[twiml][xml]") {
  const std::string forbidden = std::string("\x00\x01\x08\x0b\x0c\x1f", 6) + "\xef\xbf\xbe" + "\xef\xbf\xbf" +
                                "\xed\xa0\x80" /* a surrogate */ + "\xc0\xaf" /* overlong */ + "\xff" + "\xe2\x82";
  const std::string kept = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e \xef\xbf\xbd";  // é € 📞 U+FFFD
  XmlWriter w;
  w.element("Say", {{"a", forbidden + kept}}, forbidden + kept);
  const auto xml = w.finish();
  const auto root = callproxy::parse_xml(xml);  // throws on any forbidden character
  CHECK(root.text == kept);
  CHECK(root.at("a") == kept);
}

TEST_CASE("the XML writer refuses names that are not XML names, and the test reader is strict", "[twiml][xml]") {
  for (const auto* bad : {"", "1a", "a b", "a<", "a\"", "Say>"}) {
    INFO(bad);
    XmlWriter w;
    CHECK_THROWS_AS(w.open(bad), std::invalid_argument);
    CHECK_THROWS_AS(w.empty("Say", {{bad, "v"}}), std::invalid_argument);
  }
  XmlWriter w;
  CHECK_THROWS_AS(w.close(), std::logic_error);
  CHECK(w.open("A").open("B").finish() == R"(<?xml version="1.0" encoding="UTF-8"?><A><B></B></A>)");
  // The reader takes what the writer writes and nothing sloppier.
  for (const auto* bad : {"<A>", "<A></B>", "<A>&</A>", "<A>a<b</A>", "<A x=1/>", "<A x='1' x='2'/>", "<A/><B/>",
                          "<A>&nbsp;</A>", "<A>\x01</A>", "<A><!-- c --></A>", "<A>]]></A>", "<A x=\"<\"/>"}) {
    INFO(bad);
    CHECK_THROWS_AS(callproxy::parse_xml(bad), std::runtime_error);
  }
}

TEST_CASE("the XML reader takes 256 attributes on an element and refuses more, naming the element", "[twiml][xml]") {
  const auto with = [](std::size_t n) {
    std::string xml = "<Response><Say";
    for (std::size_t i = 0; i < n; ++i) xml += " a" + std::to_string(i) + "=\"v\"";
    return xml + "/></Response>";
  };
  CHECK(parse_xml(with(max_xml_attributes)).children.at(0).attributes.size() == 256);
  try {
    (void)parse_xml(with(max_xml_attributes + 1));
    FAIL("more than 256 attributes were taken");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("<Say> has more than 256 attributes") != std::string::npos);
  }
  // A large document of distinct attributes is refused without comparing every pair.
  CHECK_THROWS_AS(parse_xml(with(20'000)), std::runtime_error);
}
