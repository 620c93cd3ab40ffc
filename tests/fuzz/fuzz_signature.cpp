// Twilio request signatures (twilio/signature.*) on URLs, parameters and bodies a client chose.
// Input, one field per line: the auth token, the URL the request arrived at, a presented
// signature, then KEY=VALUE parameters up to an empty line, then the body (the rest).
// A request signed over the URL it arrived at validates (form and bodySHA256 alike); a body other
// than the signed one does not; every URL variant the validator tries is itself a URL it reads.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "twilio/signature.h"

using namespace callproxy;
using namespace callproxy::twilio;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return -1;  // --max-body-bytes
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const std::string token(fuzz::take_line(rest));
  const std::string url(fuzz::take_line(rest));
  const std::string presented(fuzz::take_line(rest));
  RequestParams params;
  while (!rest.empty()) {
    const auto line = fuzz::take_line(rest);
    if (line.empty()) break;
    const auto eq = line.find('=');
    params.emplace_back(std::string(line.substr(0, eq)), eq == std::string_view::npos ? "" : line.substr(eq + 1));
  }
  const std::string body(rest);

  const SignatureValidator validator(token);
  fuzz::require(constant_time_equal(presented, url) == (presented == url), "constant_time_equal is not equality");

  const auto variants = signature_url_variants(url);
  const auto verdict = validator.validate(presented, url, params);
  if (variants.empty()) {
    fuzz::require(verdict == SignatureVerdict::invalid_url, "a URL without variants is not called invalid");
    fuzz::require(!is_signable_url(url), "a URL without variants is called signable", url);
    return 0;
  }
  fuzz::require(is_signable_url(url), "a URL with variants is not called signable", url);
  for (const auto& variant : variants) {
    fuzz::require(is_signable_url(variant), "a URL variant is not a URL the validator reads", variant);
  }

  // Signed over the URL it arrived at: valid, with its parameters and with none.
  fuzz::require(validator.validate(compute_signature(token, url, params), url, params) == SignatureVerdict::valid,
                "a request signed over the URL it arrived at is refused", url);

  // JSON bodies: the URL with bodySHA256 appended is signed alone, and the body must match it.
  const auto hashed = url_with_body_hash(url, body);
  if (query_param(url, "bodySHA256")) return 0;  // the first bodySHA256 is the one that counts
  fuzz::require(has_body_hash(hashed), "url_with_body_hash gave a URL without bodySHA256", hashed);
  const auto signature = compute_signature(token, hashed, {});
  fuzz::require(validator.validate_with_body(signature, hashed, body) == SignatureVerdict::valid,
                "a body signed through bodySHA256 is refused", hashed);
  fuzz::require(validator.validate_with_body(signature, hashed, body + "x") == SignatureVerdict::body_hash_mismatch,
                "a body other than the signed one is accepted", hashed);
  return 0;
}
