#include "core/xml_reader.h"

#include <cstdint>
#include <stdexcept>

namespace callproxy {
namespace {

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  XmlElement document() {
    if (text_.substr(0, 5) == "<?xml") {
      const auto end = text_.find("?>");
      if (end == std::string_view::npos) fail("unterminated XML declaration");
      const auto declaration = text_.substr(0, end);
      if (declaration.find("version=\"1.0\"") == std::string_view::npos) fail("XML declaration without version 1.0");
      at_ = end + 2;
    }
    skip_space();
    auto root = element();
    skip_space();
    if (at_ != text_.size()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error("XML: " + why + " at offset " + std::to_string(at_));
  }
  bool more() const { return at_ < text_.size(); }
  char peek() const { return more() ? text_[at_] : '\0'; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++at_;
  }
  void skip_space() {
    while (more() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++at_;
  }
  static bool name_char(char c, bool first) {
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    return first ? letter : letter || (c >= '0' && c <= '9') || c == '-' || c == '.';
  }
  std::string name() {
    const auto start = at_;
    while (more() && name_char(peek(), at_ == start)) ++at_;
    if (at_ == start) fail("expected a name");
    return std::string(text_.substr(start, at_ - start));
  }

  // One character (UTF-8, checked against XML 1.0's Char), appended to `out`.
  void character(std::string& out) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text_[k]); };
    const unsigned char lead = byte(at_);
    std::size_t length = 1;
    std::uint32_t cp = lead;
    if (lead >= 0x80) {
      if ((lead & 0xE0) == 0xC0) length = 2, cp = lead & 0x1F;
      else if ((lead & 0xF0) == 0xE0) length = 3, cp = lead & 0x0F;
      else if ((lead & 0xF8) == 0xF0) length = 4, cp = lead & 0x07;
      else fail("invalid UTF-8");
      if (at_ + length > text_.size()) fail("truncated UTF-8");
      for (std::size_t k = 1; k < length; ++k) {
        if ((byte(at_ + k) & 0xC0) != 0x80) fail("invalid UTF-8");
        cp = (cp << 6) | (byte(at_ + k) & 0x3F);
      }
      static constexpr std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
      if (cp < min[length]) fail("overlong UTF-8");
    }
    check_char(cp);
    out.append(text_.substr(at_, length));
    at_ += length;
  }
  void check_char(std::uint32_t cp) const {
    const bool ok = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
                    (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
    if (!ok) fail("character U+" + std::to_string(cp) + " is not allowed in XML 1.0");
  }
  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  // After '&': a predefined entity or a character reference, up to and including ';'.
  void reference(std::string& out) {
    expect('&');
    const auto end = text_.find(';', at_);
    if (end == std::string_view::npos || end - at_ > 10) fail("bare '&'");
    const auto ref = text_.substr(at_, end - at_);
    at_ = end + 1;
    if (ref == "amp") out += '&';
    else if (ref == "lt") out += '<';
    else if (ref == "gt") out += '>';
    else if (ref == "quot") out += '"';
    else if (ref == "apos") out += '\'';
    else if (ref.size() > 1 && ref[0] == '#') {
      const bool hex = ref[1] == 'x';
      const auto digits = ref.substr(hex ? 2 : 1);
      if (digits.empty()) fail("empty character reference");
      std::uint32_t cp = 0;
      for (const char c : digits) {
        int d = -1;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
        if (d < 0 || cp > 0x10FFFF) fail("bad character reference");
        cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(d);
      }
      check_char(cp);
      append_utf8(out, cp);
    } else {
      fail("unknown entity '&" + std::string(ref) + ";'");
    }
  }

  XmlElement element() {
    expect('<');
    if (peek() == '!' || peek() == '?') fail("comments, CDATA, DOCTYPE and processing instructions are not expected");
    XmlElement e;
    e.name = name();
    while (true) {
      const auto before = at_;
      skip_space();
      if (peek() == '/') {
        ++at_;
        expect('>');
        return e;
      }
      if (peek() == '>') {
        ++at_;
        break;
      }
      if (at_ == before) fail("expected whitespace before an attribute");
      auto key = name();
      skip_space();
      expect('=');
      skip_space();
      const char quote = peek();
      if (quote != '"' && quote != '\'') fail("attribute value without quotes");
      ++at_;
      std::string value;
      while (true) {
        if (!more()) fail("unterminated attribute value");
        if (peek() == quote) break;
        if (peek() == '<') fail("'<' in an attribute value");
        if (peek() == '&') {
          reference(value);
        } else if (peek() == '\t' || peek() == '\n' || peek() == '\r') {
          value += ' ';  // attribute-value normalisation
          ++at_;
        } else {
          character(value);
        }
      }
      ++at_;
      // The duplicate check below is quadratic: a bound keeps it cheap.
      if (e.attributes.size() == max_xml_attributes) {
        fail("<" + e.name + "> has more than " + std::to_string(max_xml_attributes) + " attributes");
      }
      for (const auto& [k, v] : e.attributes) {
        if (k == key) fail("duplicate attribute '" + key + "'");
      }
      e.attributes.emplace_back(std::move(key), std::move(value));
    }
    // Content.
    while (true) {
      if (!more()) fail("element <" + e.name + "> is not closed");
      if (text_.substr(at_, 2) == "</") {
        at_ += 2;
        if (name() != e.name) fail("end tag does not match <" + e.name + ">");
        skip_space();
        expect('>');
        return e;
      }
      if (peek() == '<') {
        if (++depth_ > max_xml_depth) fail("elements nested deeper than " + std::to_string(max_xml_depth));
        e.children.push_back(element());
        --depth_;
      } else if (peek() == '&') {
        reference(e.text);
      } else {
        if (text_.substr(at_, 3) == "]]>") fail("']]>' in character data");
        character(e.text);
      }
    }
  }

  std::string_view text_;
  std::size_t at_ = 0;
  std::size_t depth_ = 1;
};

}  // namespace

std::optional<std::string> XmlElement::attribute(std::string_view key) const {
  for (const auto& [k, v] : attributes) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::string XmlElement::at(std::string_view key) const {
  auto value = attribute(key);
  if (!value) throw std::runtime_error("<" + name + "> has no attribute '" + std::string(key) + "'");
  return *value;
}

std::vector<std::string> XmlElement::child_names() const {
  std::vector<std::string> out;
  for (const auto& c : children) out.push_back(c.name);
  return out;
}

const XmlElement& XmlElement::child(std::string_view key) const {
  for (const auto& c : children) {
    if (c.name == key) return c;
  }
  throw std::runtime_error("<" + name + "> has no <" + std::string(key) + ">");
}

std::vector<const XmlElement*> XmlElement::children_named(std::string_view key) const {
  std::vector<const XmlElement*> out;
  for (const auto& c : children) {
    if (c.name == key) out.push_back(&c);
  }
  return out;
}

XmlElement parse_xml(std::string_view document) { return Reader(document).document(); }

}  // namespace callproxy
