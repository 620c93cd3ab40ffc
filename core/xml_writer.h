// A small XML 1.0 writer (what TwiML answers are written with): elements, attributes and text,
// every value escaped, and characters XML 1.0 cannot carry at all (C0 controls other than tab,
// line feed and carriage return, U+FFFE, U+FFFF, surrogates, invalid UTF-8) left out, so that
// whatever a setting or a request holds, the document stays well-formed.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callproxy {

// `text` as XML character data or an attribute value: & < > " ' escaped (in attributes also tab,
// line feed and carriage return, as character references, which attribute normalisation would
// otherwise turn into spaces), characters XML 1.0 forbids dropped.
std::string xml_escape(std::string_view text, bool attribute = false);

// True for a name this writer accepts for an element or attribute: ASCII letters, digits, '_',
// '-', '.', ':' (a letter or '_' first). TwiML names are all of that kind.
bool is_xml_name(std::string_view name);

// Name and value pairs, in the order written (braces work: {{"a", "1"}, {"b", "2"}}).
using XmlAttributes = std::vector<std::pair<std::string_view, std::string_view>>;

class XmlWriter {
 public:
  XmlWriter();  // starts with the XML declaration (UTF-8)

  // <name a="v" ...> ; names that are not is_xml_name throw std::invalid_argument (a bug).
  XmlWriter& open(std::string_view name, const XmlAttributes& attributes = {});
  // <name a="v" .../>
  XmlWriter& empty(std::string_view name, const XmlAttributes& attributes = {});
  // <name a="v" ...>text</name>
  XmlWriter& element(std::string_view name, const XmlAttributes& attributes, std::string_view text);
  XmlWriter& text(std::string_view text);
  // Closes the element opened last; throws std::logic_error when none is open.
  XmlWriter& close();
  // The document, every element still open closed.
  std::string finish();

 private:
  void start_tag(std::string_view name, const XmlAttributes& attributes);
  std::string out_;
  std::vector<std::string> open_;
};

}  // namespace callproxy
