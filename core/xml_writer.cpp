#include "core/xml_writer.h"

#include <cstdint>
#include <stdexcept>

namespace callproxy {
namespace {

// The code point of the UTF-8 sequence at text[i] and its length; length 0 for an invalid one
// (bad lead byte, bad continuation, overlong, surrogate, above U+10FFFF, cut short).
std::pair<std::uint32_t, std::size_t> decode_utf8(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return {lead, 1};
  std::size_t length = 0;
  std::uint32_t cp = 0;
  std::uint32_t min = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return {0, 0};
  }
  if (i + length > text.size()) return {0, 0};
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return {0, 0};
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {0, 0};
  return {cp, length};
}

// XML 1.0's Char production.
bool is_xml_char(std::uint32_t cp) {
  if (cp < 0x20) return cp == 0x09 || cp == 0x0A || cp == 0x0D;
  return cp != 0xFFFE && cp != 0xFFFF;
}

bool is_name_char(char c, bool first) {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (first) return letter;
  return letter || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':';
}

}  // namespace

std::string xml_escape(std::string_view text, bool attribute) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto [cp, length] = decode_utf8(text, i);
    if (length == 0) {  // an invalid byte: dropped, and the next one looked at on its own
      ++i;
      continue;
    }
    if (!is_xml_char(cp)) {
      i += length;
      continue;
    }
    switch (cp) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\t': out += attribute ? "&#9;" : "\t"; break;
      case '\n': out += attribute ? "&#10;" : "\n"; break;
      case '\r': out += "&#13;"; break;  // a parser would turn a raw CR into LF, even in text
      default: out.append(text.substr(i, length));
    }
    i += length;
  }
  return out;
}

bool is_xml_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_name_char(name[i], i == 0)) return false;
  }
  return true;
}

XmlWriter::XmlWriter() : out_("<?xml version=\"1.0\" encoding=\"UTF-8\"?>") {}

void XmlWriter::start_tag(std::string_view name, const XmlAttributes& attributes) {
  if (!is_xml_name(name)) throw std::invalid_argument("not an XML name: '" + std::string(name) + "'");
  out_ += '<';
  out_ += name;
  for (const auto& [key, value] : attributes) {
    if (!is_xml_name(key)) throw std::invalid_argument("not an XML attribute name: '" + std::string(key) + "'");
    out_ += ' ';
    out_ += key;
    out_ += "=\"";
    out_ += xml_escape(value, true);
    out_ += '"';
  }
}

XmlWriter& XmlWriter::open(std::string_view name, const XmlAttributes& attributes) {
  start_tag(name, attributes);
  out_ += '>';
  open_.emplace_back(name);
  return *this;
}

XmlWriter& XmlWriter::empty(std::string_view name, const XmlAttributes& attributes) {
  start_tag(name, attributes);
  out_ += "/>";
  return *this;
}

XmlWriter& XmlWriter::element(std::string_view name, const XmlAttributes& attributes, std::string_view text) {
  open(name, attributes);
  this->text(text);
  return close();
}

XmlWriter& XmlWriter::text(std::string_view text) {
  out_ += xml_escape(text);
  return *this;
}

XmlWriter& XmlWriter::close() {
  if (open_.empty()) throw std::logic_error("XmlWriter::close with no element open");
  out_ += "</";
  out_ += open_.back();
  out_ += '>';
  open_.pop_back();
  return *this;
}

std::string XmlWriter::finish() {
  while (!open_.empty()) close();
  return std::move(out_);
}

}  // namespace callproxy
