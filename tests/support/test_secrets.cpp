#include "support/test_secrets.h"

#include <algorithm>
#include <cctype>
#include <mutex>

namespace callproxy::test::secrets {
namespace {

std::mutex remembered_mutex;
std::vector<std::string> remembered;

constexpr std::size_t shortest_remembered = 8;

}  // namespace

std::string pins_file() { return std::string(CALLPROXY_TEST_DATA) + "/test-pins.json"; }

void remember(const std::string& value) {
  if (value.size() < shortest_remembered) return;
  std::lock_guard lock(remembered_mutex);
  if (std::find(remembered.begin(), remembered.end(), value) == remembered.end()) remembered.push_back(value);
}

void remember_headers(const std::map<std::string, std::string>& headers) {
  for (const auto& [name, value] : headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "x-twilio-signature" || lower == "apikey") remember(value);
  }
}

std::vector<std::string> all() {
  std::vector<std::string> out{api_key, auth_token, other_auth_token, pin, hashed_pin, wrong_pin, stream_token_secret};
  std::lock_guard lock(remembered_mutex);
  out.insert(out.end(), remembered.begin(), remembered.end());
  return out;
}

std::vector<std::string> leaked_in(const std::string& log) {
  std::vector<std::string> out;
  for (const auto& secret : all()) {
    const auto at = log.find(secret);
    if (at == std::string::npos) continue;
    const auto begin = log.rfind('\n', at);
    const auto from = begin == std::string::npos ? 0 : begin + 1;
    const auto end = log.find('\n', at);
    out.push_back("'" + secret +
                  "' in: " + log.substr(from, end == std::string::npos ? std::string::npos : end - from));
  }
  return out;
}

}  // namespace callproxy::test::secrets
