// Field readers shared by twilio/'s message parsers (media_message, backend_protocol), so both
// name a bad field the same way ("field 'start.tracks' must hold strings"). Internal to twilio/.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"
#include "twilio/json_limits.h"
#include "twilio/media_message.h"

namespace callproxy::twilio::fields {

using nlohmann::json;

// Thrown by the readers below and caught in parse_event: never leaves twilio/.
struct FieldError {
  std::string message;
};

[[noreturn]] inline void fail(std::string_view path, std::string_view what) {
  throw FieldError{"field '" + std::string(path) + "' " + std::string(what)};
}

inline const json& member(const json& object, const char* key, std::string_view path) {
  const auto it = object.find(key);
  if (it == object.end()) fail(path, "is missing");
  return *it;
}

inline const json& object_member(const json& object, const char* key, std::string_view path) {
  const json& value = member(object, key, path);
  if (!value.is_object()) fail(path, "must be an object");
  return value;
}

inline std::string string_field(const json& object, const char* key, std::string_view path) {
  const json& value = member(object, key, path);
  if (!value.is_string()) fail(path, "must be a string");
  return value.get<std::string>();
}

inline std::string optional_string(const json& object, const char* key, std::string_view path) {
  return object.contains(key) ? string_field(object, key, path) : std::string{};
}

// Twilio sends counters as strings; a whole non-negative number is harmless and accepted.
inline std::string counter_field(const json& object, const char* key, std::string_view path) {
  const auto it = object.find(key);
  if (it == object.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_unsigned()) return std::to_string(it->get<std::uint64_t>());
  fail(path, "must be a string");
}

inline int positive_int(const json& object, const char* key, std::string_view path) {
  const json& value = member(object, key, path);
  if (!value.is_number_integer() || value.get<long long>() <= 0 || value.get<long long>() > 1'000'000) {
    fail(path, "must be a positive integer");
  }
  return value.get<int>();
}

// Parses `text` as a JSON object with a string "event" and hands both to `build`, which may
// throw FieldError.
template <class Message, class Build>
Result<Message> parse_event(std::string_view text, Build build) {
  // Nesting is bounded before anything is parsed: what comes from outside may nest without end.
  auto parsed = parse_json_bounded(text);
  if (!parsed) return Error{parsed.error()};
  const json& root = parsed.value();
  if (!root.is_object()) return Error{"message is not a JSON object"};
  try {
    return build(root, string_field(root, "event", "event"));
  } catch (const FieldError& e) {
    return Error{e.message};
  } catch (const json::exception& e) {
    return Error{std::string("malformed message: ") + e.what()};
  }
}

// A start's optional fields (callSid, accountSid, tracks, mediaFormat, customParameters) from
// `object`, with paths prefixed by `prefix` ("start." for Twilio's shape, "" for the simple one).
void read_start_fields(const json& object, const std::string& prefix, StartMessage& m);

// Twilio's shapes from an already parsed message (for readers that look at it first).
TwilioMessage twilio_message(const json& root, const std::string& event);
ReplyMessage twilio_reply(const json& root, const std::string& event);

}  // namespace callproxy::twilio::fields
