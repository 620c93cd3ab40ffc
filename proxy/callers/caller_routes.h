// The callers API a Twilio call flow uses, as the Node twilio-call-proxy has it: PIN validation,
// blocked callers, the admin and debug routes; and the X-Twilio-Signature check on HTTP routes.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/result.h"
#include "proxy/callers/callers_options.h"
#include "proxy/callers/pin_api.h"
#include "proxy/callers/pin_budget.h"
#include "proxy/callers/pin_directory.h"
#include "proxy/http/request_signing.h"
#include "proxy/http/router.h"
#include "proxy/metrics/metrics.h"
#include "proxy/store/state_store.h"

namespace callproxy::proxy {

// True for the caller IDs Twilio uses when the number is withheld: RESTRICTED, BLOCKED, UNKNOWN,
// ANONYMOUS, UNAVAILABLE (any case) and their keypad spellings (7378742833, 2562533, 8656696,
// 266696687, 86282452253), with or without '+', and 464 / empty.
bool is_withheld_caller(std::string_view caller_id);

// Checks a request's X-Twilio-Signature; nullopt when it may pass, else the answer to send.
// The signed URL is --public-url + target, or https://<Host><target> (as the Node service).
// With bodySHA256 in the URL the URL alone is signed and the body must match its hash; without,
// a JSON body's top-level fields (or a form body's fields) are the signed parameters.
std::optional<HttpResponse> check_request_signature(const HttpRequest& request, const RequestSigning& signing);

// Runs `handler` only if the request's signature passes (check_request_signature).
Handler signed_route(const RequestSigning& signing, Handler handler);

struct CallerApi;

// A PIN and a caller ID from a request, after the length caps and the caller ID's one spelling
// (canonical_caller_id); `pin_field` and `caller_field` name them in errors.
struct PinRequest {
  std::string pin;
  std::string caller_id;
};
Result<PinRequest> checked_pin_request(std::string pin, std::string caller_id, std::string_view pin_field,
                                       std::string_view caller_field);

// What a PIN check came to, whoever asked (/validate-pin, the TwiML flow): the one policy.
struct PinCheck {
  enum class Outcome {
    authenticated,  // backend_ids, backend_hosts: where the call goes (JSON texts)
    wrong,          // counted; state.blocked when this failure blocked the caller
    blocked,        // the caller was blocked already: the PIN was not looked at
    refused,        // a failure budget is spent: the PIN was not looked at, nothing counted
    unavailable,    // the PIN API could not answer (error): nothing counted
    store_error,    // the state store could not answer (error)
  };
  Outcome outcome = Outcome::wrong;
  CallerState state;
  std::string backend_ids, backend_hosts;
  std::string error;
};

// Checks `pin` for `caller_id` (already checked_pin_request'd): blocked callers first, then the
// failure budgets (`source`: net::source_key of the peer, empty with signatures), the pins file,
// the PIN API; counts a wrong PIN, clears the count on a right one. `done` may run on any thread.
void check_pin(CallerApi& api, const std::string& caller_id, const std::string& pin, const std::string& source,
               std::function<void(PinCheck)> done);

// The budget source of a request: its peer's, or none when signatures are checked (every
// request then comes from Twilio, whose addresses all callers share).
std::string pin_budget_source(const HttpRequest& request, const RequestSigning& signing);

struct CallerApi {
  const CallersOptions& options;
  StateStore& store;
  PinDirectory& pins;
  const RequestSigning& signing;
  PinFailureBudgets& budgets;  // failures whatever the caller ID
  Metrics& metrics;
  PinApi* pin_api = nullptr;  // set with --pin-api
};

void add_caller_routes(Router& router, CallerApi& api);

}  // namespace callproxy::proxy
