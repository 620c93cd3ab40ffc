// base64 through OpenSSL's EVP block coder; we only add the strictness it lacks
// (it accepts whitespace and reports padding as decoded zero bytes).
#include "twilio/base64.h"

#include <openssl/evp.h>

namespace callproxy::twilio {

void base64_append(std::string& out, std::span<const std::uint8_t> bytes) {
  const auto start = out.size();
  out.resize(start + 4 * ((bytes.size() + 2) / 3));
  if (bytes.empty()) return;
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + start), bytes.data(),
                                static_cast<int>(bytes.size()));
  out.resize(start + static_cast<std::size_t>(n));
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  base64_append(out, bytes);
  return out;
}

bool base64_decode_into(std::string_view text, std::vector<std::uint8_t>& out) {
  out.clear();
  if (text.size() % 4 != 0) return false;
  if (text.empty()) return true;
  std::size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    const char c = text[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!ok) return false;  // also rejects '=' before the end and whitespace
  }
  out.resize(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return false;
  out.resize(static_cast<std::size_t>(n) - padding);
  return true;
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  std::vector<std::uint8_t> out;
  if (!base64_decode_into(text, out)) return std::nullopt;
  return out;
}

}  // namespace callproxy::twilio
