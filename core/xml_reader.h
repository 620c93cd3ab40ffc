// A minimal, strict XML 1.0 reader: reads TwiML back into elements (client-test --flow follows
// it; tests assert on elements and attributes, not on text). It takes the XML declaration, elements,
// attributes (either quote), character data and the five predefined entities plus character
// references; anything else (comments, CDATA, processing instructions, DOCTYPE, a second root,
// mismatched or unclosed tags, a duplicate attribute, a bare '&' or '<', a character XML 1.0
// forbids, invalid UTF-8, elements nested deeper than max_xml_depth or with more than
// max_xml_attributes attributes) throws std::runtime_error
// naming the offset.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callproxy {

// Deeper nesting is refused (the reader recurses): TwiML needs 4 levels.
inline constexpr std::size_t max_xml_depth = 64;
// Attributes one element may have (the duplicate check compares each with those before it).
inline constexpr std::size_t max_xml_attributes = 256;

struct XmlElement {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;  // in document order, decoded
  std::vector<XmlElement> children;
  std::string text;  // the element's own character data, concatenated, decoded

  std::optional<std::string> attribute(std::string_view name) const;
  // The value of an attribute that must be there (throws when absent).
  std::string at(std::string_view name) const;
  // Children's names in order: {"Say", "Gather", "Say", "Hangup"}.
  std::vector<std::string> child_names() const;
  // The first child called `name` (throws when there is none).
  const XmlElement& child(std::string_view name) const;
  std::vector<const XmlElement*> children_named(std::string_view name) const;
};

XmlElement parse_xml(std::string_view document);

}  // namespace callproxy
