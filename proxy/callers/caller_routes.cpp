// The callers API. Handlers answer asynchronously: the store calls back (from its own thread for
// SQLite), and the HTTP session brings the answer back to its loop.
#include "proxy/callers/caller_routes.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "twilio/percent_encoding.h"
#include "core/json_text.h"

namespace callproxy::proxy {
namespace {

using nlohmann::json;

HttpResponse json_response(int status, const json& body) {
  return HttpResponse::json(status, dump_json(body));
}

HttpResponse store_unavailable(const std::string& why) {
  spdlog::error("state store: {}", why);
  return HttpResponse::error(503, "state store unavailable, try again later");
}

json attempts_json(const CallerState& c) {
  return {{"id", c.id}, {"attempts", c.attempts}, {"blocked", c.blocked}};
}

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

// The admin routes' key, compared in constant time; an empty configured key refuses everyone.
std::optional<HttpResponse> check_api_key(const HttpRequest& request, const CallersOptions& options) {
  const auto presented = request.header("apiKey");
  if (options.api_key.empty() || presented.empty() || !twilio::constant_time_equal(presented, options.api_key)) {
    return HttpResponse::error(403, "missing or wrong apiKey header");
  }
  return std::nullopt;
}

struct PinRequest {
  std::string pin;
  std::string caller_id;
};

Result<PinRequest> parse_pin_request(const HttpRequest& request) {
  PinRequest out;
  if (is_form(request)) {
    for (auto& [k, v] : twilio::parse_form(request.body)) {
      if (k == "pin") out.pin = v;
      if (k == "callerId") out.caller_id = v;
    }
  } else {
    const auto body = json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return Error{"body must be a JSON object {\"pin\",\"callerId\"}"};
    for (const auto* field : {"pin", "callerId"}) {
      if (!body.contains(field)) return Error{std::string("field '") + field + "' is missing"};
      if (!body[field].is_string()) return Error{std::string("field '") + field + "' must be a string"};
    }
    out.pin = body["pin"];
    out.caller_id = body["callerId"];
  }
  if (out.pin.empty()) return Error{"field 'pin' is missing"};
  if (out.caller_id.empty()) return Error{"field 'callerId' is missing"};
  if (out.pin.size() > 64 || out.caller_id.size() > 128) return Error{"'pin' or 'callerId' is too long"};
  return out;
}

// A right PIN: the caller's failures are forgotten and the flow learns where to stream.
void succeed(CallerApi& api, const std::string& caller_id, const std::string& ids, const std::string& hosts, Respond respond) {
  api.store.clear_attempts(caller_id, [ids, hosts, respond](StoreResult<Done> cleared) {
    if (!cleared) return respond(store_unavailable(cleared.error()));
    respond(json_response(200, {{"authenticated", true}, {"backendIds", ids}, {"backendHosts", hosts}}));
  });
}

// A wrong PIN: one more attempt, atomically, which may block the caller.
void record_failure(CallerApi& api, const std::string& caller_id, Respond respond) {
  api.store.record_failure(caller_id, api.options.attempts, [caller_id, respond](StoreResult<CallerState> after) {
    if (!after) return respond(store_unavailable(after.error()));
    if (after.value().blocked) spdlog::warn("caller {} blocked after {} failed PIN attempts", caller_id, after.value().attempts);
    respond(json_response(200, {{"authenticated", false}, {"attempts", attempts_json(after.value())}, {"blocked", after.value().blocked}}));
  });
}

// Runs `handler` only if the request's signature passes.
Handler signed_route(const CallerApi& api, Handler handler) {
  return [&api, handler = std::move(handler)](const HttpRequest& request, const RouteParams& params, Respond respond) {
    if (auto refusal = check_request_signature(request, api.signing)) return respond(std::move(*refusal));
    handler(request, params, std::move(respond));
  };
}

Handler admin_route(const CallerApi& api, Handler handler) {
  return [&api, handler = std::move(handler)](const HttpRequest& request, const RouteParams& params, Respond respond) {
    if (auto refusal = check_api_key(request, api.options)) return respond(std::move(*refusal));
    handler(request, params, std::move(respond));
  };
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

  twilio::SignatureVerdict verdict;
  if (twilio::has_body_hash(url)) {
    verdict = validator.validate_with_body(signature, url, request.body);
  } else {
    twilio::RequestParams params;
    if (is_form(request)) {
      params = twilio::parse_form(request.body);
    } else if (!request.body.empty()) {
      const auto body = json::parse(request.body, nullptr, false);
      if (body.is_object()) {
        for (const auto& [key, value] : body.items()) {
          // Arrays are repeated keys, as Twilio's library treats them.
          if (value.is_array()) {
            for (const auto& v : value) params.emplace_back(key, js_string(v));
          } else {
            params.emplace_back(key, js_string(value));
          }
        }
      }
    }
    verdict = validator.validate(signature, url, params);
  }
  if (verdict != twilio::SignatureVerdict::valid) {
    spdlog::warn("{} {}: refused: {} (signed URL checked: {})", request.method, request.path(), twilio::describe(verdict), url);
    return HttpResponse::error(403, "Twilio request validation failed: " + std::string(twilio::describe(verdict)));
  }
  return std::nullopt;
}

void add_caller_routes(Router& router, CallerApi& api) {
  router.add("POST", "/validate-pin", signed_route(api, [&api](const HttpRequest& request, const RouteParams&, Respond respond) {
    auto parsed = parse_pin_request(request);
    if (!parsed) return respond(HttpResponse::error(400, parsed.error()));
    const auto caller_id = parsed.value().caller_id;
    const auto pin = parsed.value().pin;
    // A blocked caller is told so without the PIN being looked at.
    api.store.caller(caller_id, [&api, caller_id, pin, respond](StoreResult<CallerState> state) {
      if (!state) return respond(store_unavailable(state.error()));
      if (state.value().blocked) {
        return respond(json_response(200, {{"authenticated", false}, {"attempts", attempts_json(state.value())}, {"blocked", true}}));
      }
      if (const auto entry = api.pins.find(pin)) return succeed(api, caller_id, entry->backend_ids, entry->backend_hosts, respond);
      if (!api.pin_api) return record_failure(api, caller_id, respond);
      api.pin_api->check(pin, [&api, caller_id, respond](PinApiAnswer answer) {
        switch (answer.outcome) {
          case PinApiAnswer::Outcome::authenticated:
            return succeed(api, caller_id, answer.backend_ids, answer.backend_hosts, respond);
          case PinApiAnswer::Outcome::rejected:
            return record_failure(api, caller_id, respond);
          case PinApiAnswer::Outcome::unavailable:
            // Not the caller's fault: no attempt is counted, and Studio can say "try later".
            spdlog::error("PIN check for {} could not be made: {}", caller_id, answer.error);
            return respond(HttpResponse::error(502, "PIN check unavailable: " + answer.error));
        }
      });
    });
  }));

  router.add("GET", "/blocked-callers/:callerId", signed_route(api, [&api](const HttpRequest&, const RouteParams& params, Respond respond) {
    const auto id = params.at("callerId");
    if (is_withheld_caller(id)) return respond(json_response(200, {{"id", id}, {"withheld", true}, {"blocked", true}}));
    api.store.caller(id, [id, respond](StoreResult<CallerState> state) {
      if (!state) return respond(store_unavailable(state.error()));
      if (!state.value().blocked) return respond(HttpResponse::error(404, "caller " + id + " is not blocked"));
      respond(json_response(200, {{"id", id}, {"blockedOn", state.value().blocked_on}, {"blocked", true}}));
    });
  }));

  router.add("DELETE", "/blocked-callers/:callerId", admin_route(api, [&api](const HttpRequest&, const RouteParams& params, Respond respond) {
    const auto id = params.at("callerId");
    api.store.unblock(id, [id, respond](StoreResult<bool> was_blocked) {
      if (!was_blocked) return respond(store_unavailable(was_blocked.error()));
      if (!was_blocked.value()) return respond(HttpResponse::error(404, "caller " + id + " is not blocked"));
      spdlog::info("caller {} unblocked", id);
      respond(HttpResponse{204, "text/plain", "", {}});
    });
  }));

  router.add("GET", "/blocked-callers", admin_route(api, [&api](const HttpRequest&, const RouteParams&, Respond respond) {
    api.store.blocked_callers([respond](StoreResult<std::vector<CallerState>> list) {
      if (!list) return respond(store_unavailable(list.error()));
      json data = json::array();
      for (const auto& c : list.value()) data.push_back({{"id", c.id}, {"blockedOn", c.blocked_on}, {"blocked", true}});
      respond(json_response(200, {{"data", data}}));
    });
  }));

  if (!api.options.debug_routes) return;
  router.add("POST", "/blocked-callers/:callerId", [&api](const HttpRequest&, const RouteParams& params, Respond respond) {
    api.store.block(params.at("callerId"), [respond](StoreResult<CallerState> state) {
      if (!state) return respond(store_unavailable(state.error()));
      respond(json_response(201, {{"id", state.value().id}, {"blockedOn", state.value().blocked_on}, {"blocked", true}}));
    });
  });
  router.add("POST", "/auth-attempts/:callerId", [&api](const HttpRequest&, const RouteParams& params, Respond respond) {
    api.store.record_failure(params.at("callerId"), api.options.attempts, [respond](StoreResult<CallerState> state) {
      if (!state) return respond(store_unavailable(state.error()));
      respond(json_response(201, attempts_json(state.value())));
    });
  });
  router.add("GET", "/auth-attempts/:callerId", [&api](const HttpRequest&, const RouteParams& params, Respond respond) {
    const auto id = params.at("callerId");
    api.store.caller(id, [id, respond](StoreResult<CallerState> state) {
      if (!state) return respond(store_unavailable(state.error()));
      if (state.value().attempts == 0) return respond(HttpResponse::error(404, "no failed attempts for " + id));
      respond(json_response(200, {{"attempts", state.value().attempts}}));
    });
  });
}

}  // namespace callproxy::proxy
