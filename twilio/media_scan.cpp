// The media fast path on simdjson's on-demand API: one pass over the message where it was read,
// strings unescaped into the parser's own buffer, no allocation once the parser is sized.
#include "twilio/media_scan.h"

#include <simdjson.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "core/byte_class.h"

namespace callproxy::twilio {
namespace {

static_assert(scan_padding >= simdjson::SIMDJSON_PADDING);

// The value of each base64 character, -1 for anything else ('=' included: padding is checked apart).
constexpr std::array<std::int8_t, 256> base64_values = [] {
  std::array<std::int8_t, 256> table{};
  table.fill(-1);
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  }
  return table;
}();

std::int8_t value_of(char c) { return base64_values[static_cast<unsigned char>(c)]; }

// is_json_plain_byte as a table: one lookup a byte.
constexpr std::array<bool, 256> json_plain = [] {
  std::array<bool, 256> table{};
  for (std::size_t c = 0; c < table.size(); ++c) table[c] = is_json_plain_byte(static_cast<unsigned char>(c));
  return table;
}();

// Reads a message left to right against the layout Twilio writes.
class LayoutCursor {
 public:
  explicit LayoutCursor(std::string_view text) : at_(text.data()), end_(text.data() + text.size()) {}
  // The next bytes are `expected`: consumed.
  bool literal(std::string_view expected) {
    if (static_cast<std::size_t>(end_ - at_) < expected.size() ||
        std::memcmp(at_, expected.data(), expected.size()) != 0) {
      return false;
    }
    at_ += expected.size();
    return true;
  }
  // A string's contents up to the next '"', which is consumed with them (escapes are not read:
  // the caller checks the contents hold none).
  bool until_quote(std::string_view& contents) {
    const auto* quote = static_cast<const char*>(std::memchr(at_, '"', static_cast<std::size_t>(end_ - at_)));
    if (quote == nullptr) return false;
    contents = std::string_view(at_, static_cast<std::size_t>(quote - at_));
    at_ = quote + 1;
    return true;
  }
  // A string that stands in JSON as it is (printable ASCII, no '"' or '\\') up to its closing
  // quote, consumed with it. One pass, a table lookup a byte: Twilio's strings are short.
  bool plain_string() {
    while (at_ != end_ && json_plain[static_cast<unsigned char>(*at_)]) ++at_;
    if (at_ == end_ || *at_ != '"') return false;
    ++at_;
    return true;
  }
  bool at_end() const { return at_ == end_; }

 private:
  const char* at_;
  const char* end_;
};

}  // namespace

std::optional<MediaScanner::Scan> match_twilio_layout(std::string_view text, std::size_t max_frame_bytes) {
  LayoutCursor in(text);
  std::string_view payload;
  const bool layout = in.literal(R"({"event":"media","sequenceNumber":")") && in.plain_string() &&
                      in.literal(R"(,"media":{"track":")") && in.plain_string() &&  //
                      in.literal(R"(,"chunk":")") && in.plain_string() &&           //
                      in.literal(R"(,"timestamp":")") && in.plain_string() &&       //
                      in.literal(R"(,"payload":")") && in.until_quote(payload) &&   //
                      in.literal(R"(},"streamSid":")") && in.plain_string() && in.literal("}") && in.at_end();
  if (!layout) return std::nullopt;
  // A valid payload is base64's alphabet and '=' only: no escape, so it means what it says. An
  // invalid one may hold escapes that change it: the general scan reads those.
  const auto check = check_media_payload(payload, max_frame_bytes);
  if (check.drop) return std::nullopt;
  MediaScanner::Scan scan;
  scan.outcome = MediaScanner::Outcome::media;
  scan.payload = payload;
  scan.check = check;
  return scan;
}

std::string_view describe(MediaDrop reason) {
  switch (reason) {
    case MediaDrop::bad_payload: return "payload is not canonical base64 of at least one byte";
    case MediaDrop::too_large: return "payload is larger than --max-frame-bytes";
    case MediaDrop::count: break;
  }
  return "?";
}

PayloadCheck check_media_payload(std::string_view base64, std::size_t max_bytes) {
  const std::size_t n = base64.size();
  if (n == 0 || n % 4 != 0) return {0, MediaDrop::bad_payload};
  std::size_t padding = 0;
  if (base64[n - 1] == '=') ++padding;
  if (base64[n - 2] == '=') ++padding;
  if (padding == 1 && base64[n - 2] == '=') return {0, MediaDrop::bad_payload};  // "x=" then not '='
  const std::size_t bytes = n / 4 * 3 - padding;
  if (bytes > max_bytes) return {bytes, MediaDrop::too_large};
  const std::size_t data = n - padding;
  if (!is_base64_alphabet(base64.substr(0, data))) return {0, MediaDrop::bad_payload};
  // Canonical: the bits the padding leaves over in the last character are zero, so that each
  // byte string has exactly one accepted encoding.
  if (padding == 1 && (value_of(base64[data - 1]) & 0x3) != 0) return {0, MediaDrop::bad_payload};
  if (padding == 2 && (value_of(base64[data - 1]) & 0xF) != 0) return {0, MediaDrop::bad_payload};
  return {bytes, std::nullopt};
}

}  // namespace callproxy::twilio

// The on-demand kernel simdjson's single header provides is the one the compiler flags allow
// (SIMDJSON_BUILTIN_IMPLEMENTATION): the portable one for a plain x86-64 build.
namespace callproxy::twilio::builtin_scan {
namespace ondemand = simdjson::builtin::ondemand;
#include "twilio/media_scan_kernel.inc"
}  // namespace callproxy::twilio::builtin_scan

namespace callproxy::twilio {

struct MediaScanner::Impl {
  simdjson::builtin::ondemand::parser parser;
};

MediaScanner::MediaScanner(std::size_t max_message_bytes) : impl_(std::make_unique<Impl>()) {
  // Sized once for the largest message a stream may send: the scan itself never allocates.
  // Depth 3 is all a media message has; deeper ones are not media and go to the full parser.
  if (impl_->parser.allocate(max_message_bytes + 1, 3) != simdjson::SUCCESS) throw std::bad_alloc();
}

MediaScanner::~MediaScanner() = default;

std::string_view MediaScanner::implementation() { return simdjson::builtin_implementation()->name(); }

MediaScanner::Scan MediaScanner::scan(const char* data, std::size_t size, std::size_t capacity,
                                      std::size_t max_frame_bytes) {
  if (capacity < size + scan_padding) return Scan{};  // the contract holds for both paths
  if (auto twilio = match_twilio_layout(std::string_view(data, size), max_frame_bytes)) return *twilio;
  return scan_any_layout(data, size, capacity, max_frame_bytes);
}

MediaScanner::Scan MediaScanner::scan_any_layout(const char* data, std::size_t size, std::size_t capacity,
                                                 std::size_t max_frame_bytes) {
  return builtin_scan::scan_media(impl_->parser, data, size, capacity, max_frame_bytes);
}

}  // namespace callproxy::twilio
