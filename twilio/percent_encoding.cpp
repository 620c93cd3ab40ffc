#include "twilio/percent_encoding.h"

namespace callproxy::twilio {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<std::string> percent_decode_strict(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)) return std::nullopt;
  }
  return percent_decode(s, false);
}

std::string percent_encode(std::string_view text, std::string_view unreserved) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    const bool alnum = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
    if (alnum || unreserved.find(c) != std::string_view::npos) {
      out.push_back(c);
    } else {
      out += {'%', digits[b >> 4], digits[b & 0x0F]};
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> fields;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('&', start);
    if (end == std::string_view::npos) end = text.size();
    const auto pair = text.substr(start, end - start);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      fields.emplace_back(percent_decode(pair.substr(0, eq), true),
                          eq == std::string_view::npos ? std::string{} : percent_decode(pair.substr(eq + 1), true));
    }
    start = end + 1;
  }
  return fields;
}

}  // namespace callproxy::twilio
