// Twilio's signing rules, reproduced from the behaviour of its Node helper library (the
// shared vectors pin every rule below: sort order, de-duplication, URL variants).
#include "twilio/signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <map>
#include <stdexcept>

#include "core/ascii_case.h"
#include "twilio/base64.h"
#include "twilio/percent_encoding.h"

namespace callproxy::twilio {
namespace {

// ---- text helpers ----------------------------------------------------------------------

// UTF-8 to UTF-16 code units, invalid sequences becoming U+FFFD as in Node's Buffer decoding.
std::u16string to_utf16(std::string_view s) {
  std::u16string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = 0xFFFD;
    std::size_t len = 1;
    if (b0 < 0x80) {
      cp = b0;
    } else {
      const std::size_t need = b0 >= 0xF0 && b0 < 0xF5 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC2 ? 2 : 0;
      if (need > 0 && b0 < 0xF5 && i + need <= s.size()) {
        std::uint32_t v = b0 & (0xFF >> (need + 1));
        bool ok = true;
        for (std::size_t k = 1; k < need; ++k) {
          const auto b = static_cast<unsigned char>(s[i + k]);
          if ((b & 0xC0) != 0x80) {
            ok = false;
            break;
          }
          v = (v << 6) | (b & 0x3F);
        }
        const bool overlong = (need == 3 && v < 0x800) || (need == 4 && v < 0x10000);
        if (ok && !overlong && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF)) {
          cp = v;
          len = need;
        }
      }
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
    i += len;
  }
  return out;
}

// A text with its UTF-16 form, converted once, for sorting in JavaScript's default
// Array.prototype.sort order; bytes break ties so distinct invalid sequences stay distinct.
struct Utf16Keyed {
  std::u16string utf16;
  const std::string* text;
  explicit Utf16Keyed(const std::string& s) : utf16(to_utf16(s)), text(&s) {}
  friend bool operator<(const Utf16Keyed& a, const Utf16Keyed& b) {
    if (a.utf16 != b.utf16) return a.utf16 < b.utf16;
    return *a.text < *b.text;
  }
};

void percent_encode_byte(std::string& out, unsigned char b) {
  static constexpr char digits[] = "0123456789ABCDEF";
  out.push_back('%');
  out.push_back(digits[b >> 4]);
  out.push_back(digits[b & 0x0F]);
}

// ---- URLs ------------------------------------------------------------------------------

struct UrlParts {
  std::string scheme;
  std::optional<std::string> userinfo;
  std::string host;
  std::optional<std::string> port;
  std::string path;
  std::optional<std::string> query;
  std::optional<std::string> fragment;
};

std::optional<UrlParts> split_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return std::nullopt;
  UrlParts p;
  p.scheme = std::string(url.substr(0, scheme_end));
  for (const char c : p.scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return std::nullopt;
    }
  }
  std::string_view rest = url.substr(scheme_end + 3);
  const auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    p.userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  // host[:port], the host an IPv6 literal in brackets ("[::1]:443") or a name without ':', '['
  // or ']'; anything else ("h:o:", "[::1", "[::1]x", "a:b:80") is no URL.
  std::string_view host = authority;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(0, close + 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return std::nullopt;
    has_port = !after.empty();
    if (has_port) port = after.substr(1);
  } else if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    has_port = true;
  }
  if (host.empty() || (host.front() != '[' && host.find_first_of("[]") != std::string_view::npos)) return std::nullopt;
  if (has_port) {
    if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
    if (!port.empty()) p.port = std::string(port);  // "host:" has no port, as WHATWG reads it
  }
  p.host = std::string(host);

  const auto hash = rest.find('#');
  if (hash != std::string_view::npos) {
    p.fragment = std::string(rest.substr(hash + 1));
    rest = rest.substr(0, hash);
  }
  const auto question = rest.find('?');
  if (question != std::string_view::npos) {
    p.query = std::string(rest.substr(question + 1));
    rest = rest.substr(0, question);
  }
  p.path = std::string(rest);
  return p;
}

// `port` in place of the URL's own (a variant with the default port added or taken away).
std::string join_url(const UrlParts& p, const std::optional<std::string>& port) {
  std::string out;
  out.reserve(p.scheme.size() + 3 + (p.userinfo ? p.userinfo->size() + 1 : 0) + p.host.size() +
              (port ? port->size() + 1 : 0) + p.path.size() + (p.query ? p.query->size() + 1 : 0) +
              (p.fragment ? p.fragment->size() + 1 : 0));
  out.append(p.scheme).append("://");
  if (p.userinfo) out.append(*p.userinfo).push_back('@');
  out.append(p.host);
  if (port) out.append(":").append(*port);
  out.append(p.path);
  if (p.query) out.append("?").append(*p.query);
  if (p.fragment) out.append("#").append(*p.fragment);
  return out;
}

std::optional<std::string_view> whatwg_default_port(std::string_view scheme) {
  if (scheme == "http" || scheme == "ws") return "80";
  if (scheme == "https" || scheme == "wss") return "443";
  return std::nullopt;
}

// Percent-encodes the bytes WHATWG URL serialisation encodes in `component`, keeping
// existing escapes as they are.
std::string whatwg_encode(std::string_view component, std::string_view extra_set) {
  std::string out;
  for (const char ch : component) {
    const auto b = static_cast<unsigned char>(ch);
    if (b <= 0x20 || b >= 0x7F || extra_set.find(ch) != std::string_view::npos) {
      percent_encode_byte(out, b);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

// What `new URL(url).href` gives, for the URLs webhooks use (ASCII hosts).
UrlParts whatwg_normalised(UrlParts p) {
  p.scheme = lower_ascii(p.scheme);
  p.host = lower_ascii(p.host);
  if (p.port) {
    // Leading zeros go; the scheme's default port goes.
    std::string_view digits = *p.port;
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    const auto def = whatwg_default_port(p.scheme);
    if (def && digits == *def) p.port.reset();
    else p.port = std::string(digits);
  }
  const bool special = is_web_scheme(p.scheme);
  if (p.path.empty() && special) p.path = "/";
  p.path = whatwg_encode(p.path, "\"<>`{}");
  if (p.query) p.query = whatwg_encode(*p.query, special ? "\"#<>'" : "\"#<>");
  return p;
}

// JavaScript orders an object's array-index keys ("0", "17") first, ascending, then the
// others in insertion order; querystring.stringify follows that order.
bool is_array_index(std::string_view key) {
  if (key.empty() || key.size() > 10) return false;
  if (key.size() > 1 && key.front() == '0') return false;
  unsigned long long v = 0;
  const auto [ptr, ec] = std::from_chars(key.data(), key.data() + key.size(), v);
  return ec == std::errc() && ptr == key.data() + key.size() && v < 4294967295ULL;
}

// The query as Node's querystring.parse then querystring.stringify would rewrite it: a key's
// values gathered at its first place, and only the first 1,000 '&'-separated pieces read (parse's
// maxKeys, empty pieces counted). The query is the client's and is read before the signature is
// known good, so a key finds its place through an ordered index, not by a walk over the keys
// before it (that walk was quadratic: 5 ms a request at 2,000 fields).
std::string legacy_querystring(std::string_view query) {
  constexpr std::size_t node_max_keys = 1000;
  std::size_t pieces = 1;
  for (std::size_t i = 0; i < query.size(); ++i) {
    if (query[i] == '&' && ++pieces > node_max_keys) {
      query = query.substr(0, i);
      break;
    }
  }
  auto parsed = parse_form(query);
  std::vector<std::pair<std::string, std::vector<std::string>>> fields;
  std::map<std::string_view, std::size_t> place;  // views into `parsed`, which is not resized
  for (auto& field : parsed) {
    const auto [it, first] = place.try_emplace(field.first, fields.size());
    if (first) fields.emplace_back(field.first, std::vector<std::string>{std::move(field.second)});
    else fields[it->second].second.push_back(std::move(field.second));
  }
  std::stable_partition(fields.begin(), fields.end(), [](const auto& f) { return is_array_index(f.first); });
  const auto first_named = std::find_if(fields.begin(), fields.end(),
                                        [](const auto& f) { return !is_array_index(f.first); });
  std::sort(fields.begin(), first_named,
            [](const auto& a, const auto& b) { return std::stoull(a.first) < std::stoull(b.first); });
  std::string out;
  for (const auto& [key, values] : fields) {
    for (const auto& value : values) {
      if (!out.empty()) out.push_back('&');
      // Node's querystring.escape keeps A-Z a-z 0-9 - _ . ! ~ * ' ( ).
      out += percent_encode(key, "-_.!~*'()") + "=" + percent_encode(value, "-_.!~*'()");
    }
  }
  return out;
}

std::string hmac_sha1_base64(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  static const unsigned char empty_key = 0;
  const void* key_ptr = key.empty() ? static_cast<const void*>(&empty_key) : key.data();
  HMAC(EVP_sha1(), key_ptr, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), digest, &length);
  return base64_encode(std::span<const std::uint8_t>(digest, length));
}

// What follows the URL in the signed text: the parameters grouped by key, keys and each key's
// distinct values in UTF-16 order, each value preceded by its key. Each text is converted to
// UTF-16 once (not once per comparison), and a validator computes this once for all the URL
// variants it tries.
std::string signed_params(const RequestParams& params) {
  if (params.empty()) return {};
  std::map<std::string, std::vector<const std::string*>> grouped;  // keys equal byte for byte
  for (const auto& [key, value] : params) grouped[key].push_back(&value);
  std::vector<std::pair<Utf16Keyed, const std::vector<const std::string*>*>> keys;
  keys.reserve(grouped.size());
  for (const auto& [key, values] : grouped) keys.emplace_back(Utf16Keyed(key), &values);
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string data;
  std::vector<Utf16Keyed> values;
  for (const auto& [key, group] : keys) {
    values.clear();
    for (const auto* value : *group) values.emplace_back(*value);
    std::sort(values.begin(), values.end());
    const std::string* previous = nullptr;
    for (const auto& value : values) {
      if (previous && *previous == *value.text) continue;  // equal texts sort next to each other
      previous = value.text;
      data += *key.text;
      data += *value.text;
    }
  }
  return data;
}

}  // namespace

std::string compute_signature(std::string_view auth_token, std::string_view url, const RequestParams& params) {
  return hmac_sha1_base64(auth_token, std::string(url) + signed_params(params));
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (const auto b : digest) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0x0F]);
  }
  return out;
}

std::string url_with_body_hash(std::string_view url, std::string_view body) {
  std::string out(url);
  const auto hash = out.find('#');
  std::string fragment;
  if (hash != std::string::npos) {
    fragment = out.substr(hash);
    out.resize(hash);
  }
  const auto question = out.find('?');
  if (question == std::string::npos) out.push_back('?');
  else if (question + 1 != out.size() && out.back() != '&') out.push_back('&');
  out += "bodySHA256=" + sha256_hex(body);
  return out + fragment;
}

std::optional<std::string> query_param(std::string_view url, std::string_view key) {
  auto parts = split_url(url);
  if (!parts || !parts->query) return std::nullopt;
  for (auto& [name, value] : parse_form(*parts->query)) {
    if (name == key) return std::move(value);
  }
  return std::nullopt;
}

bool has_body_hash(std::string_view url) { return query_param(url, "bodySHA256").has_value(); }

bool is_signable_url(std::string_view url) { return split_url(url).has_value(); }

bool is_web_scheme(std::string_view scheme) {
  return scheme == "http" || scheme == "https" || scheme == "ws" || scheme == "wss";
}

std::vector<std::string> signature_url_variants(std::string_view url) {
  const auto raw = split_url(url);
  if (!raw) return {};
  const auto normalised = whatwg_normalised(*raw);
  auto legacy = normalised;
  if (legacy.query) legacy.query = legacy_querystring(*legacy.query);

  // The URL exactly as the request arrived comes first: splitting and joining it again may not
  // give it back byte for byte ("https://host:/x" loses its empty port).
  std::vector<std::string> out{std::string(url)};
  auto add = [&out](std::string candidate) {
    if (std::find(out.begin(), out.end(), candidate) == out.end()) out.push_back(std::move(candidate));
  };
  for (const UrlParts* form : std::initializer_list<const UrlParts*>{&*raw, &normalised, &legacy}) {
    add(join_url(*form, form->port));
    if (!form->port) {
      // Twilio's library adds 443 for https and 80 for every other scheme, wss included.
      add(join_url(*form, std::string(lower_ascii(form->scheme) == "https" ? "443" : "80")));
    } else {
      add(join_url(*form, std::nullopt));
    }
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // OpenSSL's comparison is written so that no compiler turns it into an early exit.
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool equal_secrets(std::string_view presented, std::string_view expected) {
  // Both sides are hashed under a key drawn once per process, so what is compared has a fixed
  // size (the time does not depend on either length) and cannot be chosen by the presenter.
  static const auto key = [] {
    std::array<unsigned char, 32> k{};
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) throw std::runtime_error("RAND_bytes failed");
    return k;
  }();
  const auto mac = [](std::string_view text, unsigned char* out) {
    unsigned int size = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(text.data()),
         text.size(), out, &size);
  };
  std::array<unsigned char, 32> a{}, b{};
  mac(presented, a.data());
  mac(expected, b.data());
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view describe(SignatureVerdict verdict) {
  switch (verdict) {
    case SignatureVerdict::valid: return "valid";
    case SignatureVerdict::mismatch: return "signature does not match";
    case SignatureVerdict::invalid_url: return "URL is not an absolute URL";
    case SignatureVerdict::body_hash_missing: return "URL has no bodySHA256 to check the body against";
    case SignatureVerdict::body_hash_mismatch: return "body does not match the URL's bodySHA256";
  }
  return "unknown";
}

SignatureVerdict SignatureValidator::validate(std::string_view signature, std::string_view url,
                                              const RequestParams& params) const {
  const auto variants = signature_url_variants(url);
  if (variants.empty()) return SignatureVerdict::invalid_url;
  const auto suffix = signed_params(params);
  bool matched = false;
  for (const auto& candidate : variants) {
    // Every variant is computed and compared: no early exit.
    matched |= constant_time_equal(signature, hmac_sha1_base64(auth_token_, candidate + suffix));
  }
  return matched ? SignatureVerdict::valid : SignatureVerdict::mismatch;
}

SignatureVerdict SignatureValidator::validate_with_body(std::string_view signature, std::string_view url,
                                                        std::string_view body) const {
  const auto verdict = validate(signature, url, {});
  if (verdict != SignatureVerdict::valid) return verdict;
  const auto hash = query_param(url, "bodySHA256");
  if (!hash) return SignatureVerdict::body_hash_missing;
  // Lowercase hex, compared case-sensitively, as Twilio's library does.
  return constant_time_equal(*hash, sha256_hex(body)) ? SignatureVerdict::valid : SignatureVerdict::body_hash_mismatch;
}

}  // namespace callproxy::twilio
