// The callers API. Handlers answer asynchronously: the store calls back (from its own thread for
// SQLite), and the HTTP session brings the answer back to its loop.
#include "proxy/callers/caller_routes.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <vector>

#include "core/json_text.h"
#include "net/source_key.h"
#include "proxy/callers/caller_id.h"
#include "proxy/http/limited_log.h"
#include "twilio/json_limits.h"
#include "twilio/percent_encoding.h"

namespace callproxy::proxy {
namespace {

using nlohmann::json;

constexpr std::size_t twilio_signature_chars = 28;  // base64 of the 20 bytes of an HMAC-SHA1

HttpResponse json_response(int status, const json& body) { return HttpResponse::json(status, dump_json(body)); }

HttpResponse store_unavailable(const std::string& why) {
  store_error_log().write(why);
  return HttpResponse::error(503, "state store unavailable, try again later");
}

json attempts_json(const CallerState& c) { return {{"id", c.id}, {"attempts", c.attempts}, {"blocked", c.blocked}}; }

// JSON when the Content-Type says so or the body looks like JSON whatever the Content-Type
// claims (curl -d sends JSON as a form); anything else non-empty is a form body.
bool is_form(const HttpRequest& request) {
  if (request.header("Content-Type").find("json") != std::string::npos) return false;
  const auto first = request.body.find_first_not_of(" \t\r\n");
  return first != std::string::npos && request.body[first] != '{' && request.body[first] != '[';
}

// A JSON value as JavaScript's string concatenation renders it (what Twilio's Node library signs).
std::string js_string(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "null";
  if (v.is_object()) return "[object Object]";
  return v.dump();
}

// A JSON body's field as Twilio's Node library signs it: an array, nested or not, is the key
// repeated once per element (the library recurses; this walks with a stack of its own, as the
// depth is the sender's choice), anything else the key and the value as JavaScript renders it.
// Repeating the key makes the parameters grow as key length times elements (a 32,000-byte key
// over 16,000 elements in a 64 KiB body: 512 MB, then hashed once per URL variant), all before the
// signature is known good, so the parameters' bytes come out of `budget`; false when it runs out.
bool add_signed_field(twilio::RequestParams& params, const std::string& key, const json& value, std::size_t& budget) {
  std::vector<const json*> pending{&value};
  while (!pending.empty()) {
    const json* v = pending.back();
    pending.pop_back();
    if (!v->is_array()) {
      auto text = js_string(*v);
      const auto cost = key.size() + text.size();
      if (cost > budget) return false;
      budget -= cost;
      params.emplace_back(key, std::move(text));
      continue;
    }
    for (auto it = v->rbegin(); it != v->rend(); ++it) pending.push_back(&*it);
  }
  return true;
}

// How many bytes of parameters a JSON body may expand to: twice the body, and at least 16 KiB,
// so what a body costs to check grows with its size, not with its size squared. (A body Twilio's
// library signs as parameters is a few fields; arrays in it are rare and short.)
std::size_t signed_field_budget(std::size_t body_bytes) { return std::max<std::size_t>(2 * body_bytes, 16 * 1024); }

// Values a JSON body may hold to be checked as signed parameters: each becomes one, parsed into
// a DOM, sorted and hashed once per URL variant before the signature is known good. Counted
// before any parsing (json_value_bound), so a body of many tiny values costs one scan.
constexpr std::size_t max_signed_json_values = 4096;

// The admin routes' key, compared in constant time without its length showing; an empty
// configured key refuses everyone.
std::optional<HttpResponse> check_api_key(const HttpRequest& request, const CallersOptions& options) {
  const auto presented = request.header("apiKey");
  if (options.api_key.empty() || presented.empty() || !twilio::equal_secrets(presented, options.api_key)) {
    return HttpResponse::error(403, "missing or wrong apiKey header");
  }
  return std::nullopt;
}

Result<PinRequest> parse_pin_request(const HttpRequest& request) {
  std::string pin, caller_id;
  if (is_form(request)) {
    for (auto& [k, v] : twilio::parse_form(request.body)) {
      if (k == "pin") pin = v;
      if (k == "callerId") caller_id = v;
    }
  } else {
    const auto parsed = twilio::parse_json_bounded(request.body);
    if (!parsed) return Error{"body must be a JSON object {\"pin\",\"callerId\"}: " + parsed.error()};
    const json& body = parsed.value();
    if (!body.is_object()) return Error{"body must be a JSON object {\"pin\",\"callerId\"}"};
    for (const auto* field : {"pin", "callerId"}) {
      if (!body.contains(field)) return Error{std::string("field '") + field + "' is missing"};
      if (!body[field].is_string()) return Error{std::string("field '") + field + "' must be a string"};
    }
    pin = body["pin"];
    caller_id = body["callerId"];
  }
  return checked_pin_request(std::move(pin), std::move(caller_id), "pin", "callerId");
}

// A right PIN: the caller's failures are forgotten and the flow learns where to stream.
void succeed(CallerApi& api, const std::string& caller_id, const std::string& ids, const std::string& hosts,
             const std::function<void(PinCheck)>& done) {
  api.store.clear_attempts(caller_id, [ids, hosts, done](StoreResult<Done> cleared) {
    if (!cleared) return done({PinCheck::Outcome::store_error, {}, {}, {}, cleared.error()});
    done({PinCheck::Outcome::authenticated, {}, ids, hosts, {}});
  });
}

// A wrong PIN: one more attempt, atomically, which may block the caller.
void record_failure(CallerApi& api, const std::string& caller_id, const std::function<void(PinCheck)>& done) {
  api.store.record_failure(caller_id, api.options.attempts, [caller_id, done](StoreResult<CallerState> after) {
    if (!after) return done({PinCheck::Outcome::store_error, {}, {}, {}, after.error()});
    if (after.value().blocked)
      spdlog::warn("caller {} blocked after {} failed PIN attempts", caller_id, after.value().attempts);
    done({PinCheck::Outcome::wrong, after.value(), {}, {}, {}});
  });
}

// A spent budget: answered as a wrong PIN is (Studio's flow handles that) without the PIN being
// looked at, so that the right one does not get in either; the caller's own count is left alone,
// as nothing says this caller guessed.
void refuse_unchecked(CallerApi& api, const PinFailureBudgets::Admission& admission, const std::string& source,
                      const CallerState& state, const std::function<void(PinCheck)>& done) {
  const auto budget = *admission.refused;
  api.metrics.pin_checks_refused[budget].add();
  if (admission.tripped) {  // once per budget and window, not once per request
    const auto& policy = api.budgets.policy();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(policy.window).count();
    if (budget == PinBudget::global) {
      spdlog::warn("PIN failure budget spent: {} failed PIN checks across all callers within {} s; every PIN check is "
                   "refused until the window ends",
                   policy.global, seconds);
    } else {
      spdlog::warn("PIN failure budget spent by {}: {} failed PIN checks within {} s; its PIN checks are refused until "
                   "the window ends",
                   source, policy.per_source, seconds);
    }
  }
  done({PinCheck::Outcome::refused, state, {}, {}, {}});
}

// /validate-pin's answer to a check, in the Node service's shapes.
HttpResponse pin_check_response(const PinCheck& check) {
  const auto refused = [&](bool blocked) {
    return json_response(200,
                         {{"authenticated", false}, {"attempts", attempts_json(check.state)}, {"blocked", blocked}});
  };
  switch (check.outcome) {
    case PinCheck::Outcome::authenticated:
      return json_response(
          200, {{"authenticated", true}, {"backendIds", check.backend_ids}, {"backendHosts", check.backend_hosts}});
    case PinCheck::Outcome::wrong: return refused(check.state.blocked);
    case PinCheck::Outcome::blocked: return refused(true);
    case PinCheck::Outcome::refused: return refused(false);
    // Not the caller's fault: no attempt is counted, and Studio can say "try later".
    case PinCheck::Outcome::unavailable: return HttpResponse::error(502, "PIN check unavailable: " + check.error);
    case PinCheck::Outcome::store_error: break;
  }
  return store_unavailable(check.error);
}

Handler signed_route(const CallerApi& api, Handler handler) { return signed_route(api.signing, std::move(handler)); }

Handler admin_route(const CallerApi& api, Handler handler) {
  return [&api, handler = std::move(handler)](const HttpRequest& request, const RouteParams& params, Respond respond) {
    if (auto refusal = check_api_key(request, api.options)) return respond(std::move(*refusal));
    handler(request, params, std::move(respond));
  };
}

// The debug routes that change state (block a caller, count a failure): open as the Node
// service had them when no key is configured, behind the key as soon as one is (they would
// otherwise let anyone block any caller).
Handler debug_write_route(const CallerApi& api, Handler handler) {
  if (api.options.api_key.empty()) return handler;
  return admin_route(api, std::move(handler));
}

}  // namespace

bool is_withheld_caller(std::string_view id) {
  if (!id.empty() && id.front() == '+') id.remove_prefix(1);
  std::string upper(id);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto* w : {"", "464", "RESTRICTED", "7378742833", "BLOCKED", "2562533", "UNKNOWN", "8656696", "ANONYMOUS",
                        "266696687", "UNAVAILABLE", "86282452253"}) {
    if (upper == w) return true;
  }
  return false;
}

std::optional<HttpResponse> check_request_signature(const HttpRequest& request, const RequestSigning& signing) {
  if (!signing.enabled()) return std::nullopt;
  const auto& validator = signing.validator();
  const auto signature = request.header("X-Twilio-Signature");
  if (signature.empty()) return HttpResponse::error(400, "missing X-Twilio-Signature header");
  const auto url = signing.signed_url("https", request.header("Host"), request.target);
  const auto refuse = [&](twilio::SignatureVerdict verdict) {
    signature_refusal_log().write(
        twilio::describe(verdict),
        fmt::format("{} {}: refused: {} (signed URL checked: {}, query not shown)", request.method,
                    logged_text(request.path()), twilio::describe(verdict), logged_text(without_query(url))));
    return HttpResponse::error(403, "Twilio request validation failed: " + std::string(twilio::describe(verdict)));
  };
  // Twilio's signature is always base64 of an HMAC-SHA1 (28 characters): anything else is refused
  // before the body is looked at, so unsigned requests cost no parsing.
  if (signature.size() != twilio_signature_chars) return refuse(twilio::SignatureVerdict::mismatch);

  twilio::SignatureVerdict verdict;
  if (twilio::has_body_hash(url)) {
    verdict = validator.validate_with_body(signature, url, request.body);
  } else {
    twilio::RequestParams params;
    if (is_form(request)) {
      params = twilio::parse_form(request.body);
    } else if (!request.body.empty()) {
      // Nothing Twilio signs nests this deep: refused before any parsing.
      if (!twilio::json_depth_within(request.body)) {
        return HttpResponse::error(
            400, "request body: JSON nested deeper than " + std::to_string(twilio::max_json_depth) + " levels");
      }
      if (twilio::json_value_bound(request.body) > max_signed_json_values) {
        return HttpResponse::error(400, "request body: more than " + std::to_string(max_signed_json_values) +
                                            " JSON values to check as signed parameters; sign it with bodySHA256 "
                                            "instead");
      }
      const auto body = twilio::parse_json_bounded(request.body);
      if (body && body.value().is_object()) {
        const auto limit = signed_field_budget(request.body.size());
        auto budget = limit;
        for (const auto& [key, value] : body.value().items()) {
          if (!add_signed_field(params, key, value, budget)) {
            return HttpResponse::error(400, "request body: its JSON arrays expand to more than " +
                                                std::to_string(limit) +
                                                " bytes of signed parameters (each element is signed with its key); "
                                                "sign it with bodySHA256 instead");
          }
        }
      }
    }
    verdict = validator.validate(signature, url, params);
  }
  if (verdict != twilio::SignatureVerdict::valid) return refuse(verdict);
  return std::nullopt;
}

Handler signed_route(const RequestSigning& signing, Handler handler) {
  return
      [&signing, handler = std::move(handler)](const HttpRequest& request, const RouteParams& params, Respond respond) {
        if (auto refusal = check_request_signature(request, signing)) return respond(std::move(*refusal));
        handler(request, params, std::move(respond));
      };
}

Result<PinRequest> checked_pin_request(std::string pin, std::string caller_id, std::string_view pin_field,
                                       std::string_view caller_field) {
  const auto field = [](std::string_view name) { return "field '" + std::string(name) + "'"; };
  if (pin.size() > max_pin_bytes)
    return Error{field(pin_field) + " is longer than " + std::to_string(max_pin_bytes) + " bytes"};
  if (caller_id.size() > max_caller_id_bytes) {
    return Error{field(caller_field) + " is longer than " + std::to_string(max_caller_id_bytes) + " bytes"};
  }
  caller_id = canonical_caller_id(caller_id);
  if (pin.empty()) return Error{field(pin_field) + " is missing"};
  if (caller_id.empty()) return Error{field(caller_field) + " is missing"};
  return PinRequest{std::move(pin), std::move(caller_id)};
}

std::string pin_budget_source(const HttpRequest& request, const RequestSigning& signing) {
  return signing.enabled() ? std::string() : net::source_key(request.remote_address);
}

void check_pin(CallerApi& api, const std::string& caller_id, const std::string& pin, const std::string& source,
               std::function<void(PinCheck)> done) {
  // A blocked caller is told so without the PIN being looked at.
  api.store.caller(caller_id, [&api, caller_id, pin, source, done](StoreResult<CallerState> state) {
    if (!state) return done({PinCheck::Outcome::store_error, {}, {}, {}, state.error()});
    if (state.value().blocked) return done({PinCheck::Outcome::blocked, state.value(), {}, {}, {}});
    const auto admission = api.budgets.admit(source);
    if (admission.refused) return refuse_unchecked(api, admission, source, state.value(), done);
    const auto ticket = admission.ticket;
    if (const auto entry = api.pins.find(pin)) {
      api.budgets.refund(ticket);
      return succeed(api, caller_id, entry->backend_ids, entry->backend_hosts, done);
    }
    if (!api.pin_api) return record_failure(api, caller_id, done);
    api.pin_api->check(pin, [&api, caller_id, ticket, done](PinApiAnswer answer) {
      switch (answer.outcome) {
        case PinApiAnswer::Outcome::authenticated:
          api.budgets.refund(ticket);
          return succeed(api, caller_id, answer.backend_ids, answer.backend_hosts, done);
        case PinApiAnswer::Outcome::rejected: return record_failure(api, caller_id, done);
        case PinApiAnswer::Outcome::unavailable:
          // Not the caller's fault: no attempt is counted.
          api.budgets.refund(ticket);
          pin_api_error_log().write(answer.error,
                                    fmt::format("PIN check for {} could not be made: {}", caller_id, answer.error));
          return done({PinCheck::Outcome::unavailable, {}, {}, {}, answer.error});
      }
    });
  });
}

void add_caller_routes(Router& router, CallerApi& api) {
  router.add("POST", "/validate-pin",
             signed_route(api, [&api](const HttpRequest& request, const RouteParams&, Respond respond) {
               auto parsed = parse_pin_request(request);
               if (!parsed) return respond(HttpResponse::error(400, parsed.error()));
               check_pin(api, parsed.value().caller_id, parsed.value().pin, pin_budget_source(request, api.signing),
                         [respond](const PinCheck& check) { respond(pin_check_response(check)); });
             }));

  // Path IDs are normalised as validate-pin's are, so that a block, a lookup and an unblock
  // address one record whatever the spelling (the router has capped their length).
  router.add("GET", "/blocked-callers/:callerId",
             signed_route(api, [&api](const HttpRequest&, const RouteParams& params, Respond respond) {
               const auto id = canonical_caller_id(params.at("callerId"));
               if (is_withheld_caller(id))
                 return respond(json_response(200, {{"id", id}, {"withheld", true}, {"blocked", true}}));
               api.store.caller(id, [id, respond](StoreResult<CallerState> state) {
                 if (!state) return respond(store_unavailable(state.error()));
                 if (!state.value().blocked)
                   return respond(HttpResponse::error(404, "caller " + id + " is not blocked"));
                 respond(json_response(200, {{"id", id}, {"blockedOn", state.value().blocked_on}, {"blocked", true}}));
               });
             }));

  router.add("DELETE", "/blocked-callers/:callerId",
             admin_route(api, [&api](const HttpRequest&, const RouteParams& params, Respond respond) {
               const auto id = canonical_caller_id(params.at("callerId"));
               api.store.unblock(id, [id, respond](StoreResult<bool> was_blocked) {
                 if (!was_blocked) return respond(store_unavailable(was_blocked.error()));
                 if (!was_blocked.value()) return respond(HttpResponse::error(404, "caller " + id + " is not blocked"));
                 spdlog::info("caller {} unblocked", id);
                 respond(HttpResponse{204, "text/plain", "", {}});
               });
             }));

  router.add("GET", "/blocked-callers",
             admin_route(api, [&api](const HttpRequest&, const RouteParams&, Respond respond) {
               api.store.blocked_callers([respond](StoreResult<std::vector<CallerState>> list) {
                 if (!list) return respond(store_unavailable(list.error()));
                 json data = json::array();
                 for (const auto& c : list.value())
                   data.push_back({{"id", c.id}, {"blockedOn", c.blocked_on}, {"blocked", true}});
                 respond(json_response(200, {{"data", data}}));
               });
             }));

  if (!api.options.debug_routes) return;
  router.add("POST", "/blocked-callers/:callerId",
             debug_write_route(api, [&api](const HttpRequest&, const RouteParams& params, Respond respond) {
               api.store.block(canonical_caller_id(params.at("callerId")), [respond](StoreResult<CallerState> state) {
                 if (!state) return respond(store_unavailable(state.error()));
                 respond(json_response(
                     201, {{"id", state.value().id}, {"blockedOn", state.value().blocked_on}, {"blocked", true}}));
               });
             }));
  router.add("POST", "/auth-attempts/:callerId",
             debug_write_route(api, [&api](const HttpRequest&, const RouteParams& params, Respond respond) {
               api.store.record_failure(canonical_caller_id(params.at("callerId")), api.options.attempts,
                                        [respond](StoreResult<CallerState> state) {
                                          if (!state) return respond(store_unavailable(state.error()));
                                          respond(json_response(201, attempts_json(state.value())));
                                        });
             }));
  router.add("GET", "/auth-attempts/:callerId", [&api](const HttpRequest&, const RouteParams& params, Respond respond) {
    const auto id = canonical_caller_id(params.at("callerId"));
    api.store.caller(id, [id, respond](StoreResult<CallerState> state) {
      if (!state) return respond(store_unavailable(state.error()));
      if (state.value().attempts == 0) return respond(HttpResponse::error(404, "no failed attempts for " + id));
      respond(json_response(200, {{"attempts", state.value().attempts}}));
    });
  });
}

}  // namespace callproxy::proxy
