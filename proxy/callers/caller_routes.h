// The callers API a Twilio call flow uses, as the Node twilio-call-proxy has it: PIN validation,
// blocked callers, the admin and debug routes; and the X-Twilio-Signature check on HTTP routes.
#pragma once

#include <optional>

#include "proxy/callers/callers_options.h"
#include "proxy/callers/pin_api.h"
#include "proxy/callers/pin_budget.h"
#include "proxy/callers/pin_directory.h"
#include "proxy/http/request_signing.h"
#include "proxy/http/router.h"
#include "proxy/media/metrics.h"
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
