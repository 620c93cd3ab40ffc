// serve's HTTP API behind the connection: the router with the status routes, the callers API
// (PINs, blocked callers, admin and debug routes) and the TwiML flow over the memory store, with signature
// validation on or off. No sockets: the input becomes HttpRequest values, as HttpSession makes
// them from what Beast parsed.
//
// Input: the first line holds options, one letter each:
//   s  validate signatures (token "fuzz-token"), else no validation
//   h  the harness signs each request as Twilio would: bodySHA256 of the body added to the
//      target, the URL signed alone (so signed routes see any body the fuzzer makes)
//   d  the debug routes
// then requests separated by a line "===", each:
//   METHOD TARGET
//   Header-Name: value      (any number)
//                           (an empty line)
//   body                    (the rest)
// The requests run in order on one server (one store, one set of PIN budgets). Each request gets
// exactly one answer, never 500 (a handler that threw), with headers that cannot split a
// response, JSON that parses where the answer says JSON, TwiML free of characters XML 1.0
// forbids, and an unsigned PIN check or TwiML webhook never passes a validating server.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "proxy/callers/caller_routes.h"
#include "proxy/callers/twiml_routes.h"
#include "proxy/http/status_routes.h"
#include "twilio/signature.h"

using namespace callproxy;
using namespace callproxy::proxy;
using namespace std::chrono_literals;

namespace {

constexpr const char* token = "fuzz-token";
constexpr const char* api_key = "fuzz-api-key";
constexpr std::size_t max_requests = 8;
constexpr std::size_t max_body_bytes = 64 * 1024;  // serve's --max-body-bytes: Beast refuses more

// A pins file with one PIN in each form (the same as assets/demo-pins.json), written once and
// removed when the run ends.
const std::string& pins_file() {
  struct TempFile {
    std::string path = "/tmp/callproxy-fuzz-pins-" + std::to_string(getpid()) + ".json";
    TempFile() {
      std::ofstream(path) << R"([{"pin":"1234","backendIds":[1],"backendHosts":["localhost:8888"]},)"
                          << R"({"pin_sha256":"fe2592b42a727e977f055947385b709cc82b16b9a87f88c6abf3900d65d0cdc3",)"
                          << R"("backendIds":[2],"backendHosts":["localhost:8888"]}])";
    }
    ~TempFile() { std::remove(path.c_str()); }
  };
  static const TempFile file;
  return file.path;
}

// The PINs, read once: no route reloads them (only SIGHUP does), so every input sees the same
// set, and parsing the file per input would cost more than the requests themselves.
PinDirectory& shared_pins() {
  static PinDirectory pins(pins_file());
  return pins;
}

// One serve's HTTP side, as proxy/server.cpp wires it.
struct Server {
  explicit Server(bool validate, bool debug)
      : options(make_options(debug)),
        store(make_memory_store()),
        pins(shared_pins()),
        signing(SignatureOptions{validate, token, {}}),
        budgets(options.pin_budget),
        signatures{validate, token, {}},
        api{options, *store, pins, signing, budgets, metrics.shared(), nullptr},
        twiml{api, options.twiml, media_options(), signatures} {
    add_status_routes(router, draining, metrics, *store);
    add_caller_routes(router, api);
    add_twiml_routes(router, twiml);
  }
  static const MediaOptions& media_options() {
    static const MediaOptions media = [] {
      MediaOptions m;
      m.stream_token_secret = "fuzz-stream-token-secret";  // the flow mints tokens too
      return m;
    }();
    return media;
  }
  static CallersOptions make_options(bool debug) {
    CallersOptions o;
    o.pins_file = pins_file();
    o.api_key = api_key;
    o.debug_routes = debug;
    o.attempts.allowed = 3;    // so that a few requests reach the block
    o.pin_budget.global = 20;  // and the budgets
    o.pin_budget.per_source = 5;
    return o;
  }

  CallersOptions options;
  std::unique_ptr<StateStore> store;
  PinDirectory& pins;
  RequestSigning signing;
  PinFailureBudgets budgets;
  ServerMetrics metrics;
  std::atomic<bool> draining{false};
  SignatureOptions signatures;
  CallerApi api;
  TwimlApi twiml;
  Router router;
};

// The answer to one request, from whichever thread the handler finishes on.
struct Answer {
  std::mutex mutex;
  std::condition_variable arrived;
  int answers = 0;
  HttpResponse response;
};

// A wait with a deadline that a paused process does not trip: a fuzzer stopped with SIGSTOP
// (bench/run pauses them) finds every deadline passed when it resumes, before the thread that
// would answer has run again. So a wait that timed out is given one more short wait: a real hang
// stays unanswered through both.
template <class Ready>
bool within_deadline(Ready ready) {
  return ready(10s) || ready(2s);
}

// Waits for a store operation's callback (the memory store calls back at once; a store that
// finishes on a worker thread later), with a deadline.
template <class T, class Operation>
void settle(Operation operation) {
  auto done = std::make_shared<std::promise<void>>();
  operation([done](StoreResult<T>) { done->set_value(); });
  auto future = done->get_future();
  fuzz::require(within_deadline([&](auto limit) { return future.wait_for(limit) == std::future_status::ready; }),
                "the store did not answer within 12 s");
}

// Dispatches and waits for the answer: handlers may finish inline (the memory store answers at
// once) or later on another thread (a store's worker), so this waits on the answer itself, with
// a deadline; a request left unanswered is a finding.
HttpResponse answer(const Router& router, const HttpRequest& request) {
  auto answer = std::make_shared<Answer>();
  router.dispatch(request, [answer](HttpResponse r) {
    std::lock_guard lock(answer->mutex);
    fuzz::require(++answer->answers == 1, "a request was answered twice");
    answer->response = std::move(r);
    answer->arrived.notify_all();
  });
  std::unique_lock lock(answer->mutex);
  fuzz::require(within_deadline([&](auto limit) {
                  return answer->arrived.wait_for(lock, limit, [&] { return answer->answers > 0; });
                }),
                "a request got no answer within 12 s", request.method + " " + request.target);
  return answer->response;
}

bool header_safe(std::string_view text) { return text.find_first_of(std::string_view("\r\n\0", 3)) == text.npos; }

void check_answer(const HttpRequest& request, const HttpResponse& response, bool validating, bool signed_here) {
  const auto what = request.method + " " + request.target + " -> " + std::to_string(response.status);
  fuzz::require(response.status >= 200 && response.status <= 599, "a status outside 200..599", what);
  fuzz::require(response.status != 500, "a handler failed unexpectedly (500)", what);
  fuzz::require(header_safe(response.content_type), "a Content-Type that could split the response", what);
  for (const auto& [name, value] : response.headers) {
    fuzz::require(header_safe(name) && header_safe(value), "a header that could split the response", what);
  }
  if (response.content_type.find("json") != std::string::npos) {
    fuzz::require(!nlohmann::json::parse(response.body, nullptr, false).is_discarded(), "an answer that is not JSON",
                  what + " " + response.body);
  }
  const bool twiml = request.path().substr(0, 7) == "/twiml/";
  if (validating && !signed_here && (request.path() == "/validate-pin" || twiml)) {
    fuzz::require(response.status != 200, "an unsigned PIN check passed a validating server", what);
  }
  if (twiml && response.status == 200) {
    fuzz::require(response.content_type.rfind("text/xml", 0) == 0, "TwiML that is not text/xml", what);
    fuzz::require(response.body.rfind("<?xml", 0) == 0 && response.body.size() >= 11 &&
                      response.body.compare(response.body.size() - 11, 11, "</Response>") == 0,
                  "TwiML that is not one <Response> document", what + " " + response.body);
    for (const char c : response.body) {
      const auto byte = static_cast<unsigned char>(c);
      fuzz::require(byte >= 0x20 || c == '\t' || c == '\n', "TwiML with a character XML 1.0 forbids", what);
    }
  }
}

struct Parsed {
  HttpRequest request;
  bool ok = false;
};

Parsed parse_request(std::string_view text) {
  Parsed out;
  auto line = fuzz::take_line(text);
  const auto space = line.find(' ');
  if (space == std::string_view::npos) return out;
  out.request.method = std::string(line.substr(0, space));
  out.request.target = std::string(line.substr(space + 1));
  while (!text.empty()) {
    line = fuzz::take_line(text);
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    out.request.headers.emplace(std::string(line.substr(0, colon)), std::string(value));
  }
  out.request.body = std::string(text);
  if (out.request.body.size() > max_body_bytes) return out;
  out.request.remote_address = "203.0.113.7";  // the connection's peer, as the session sets it
  out.request.request_id = request_id_for(out.request.header("X-Request-Id"));
  out.ok = true;
  return out;
}

// Signs as Twilio signs a JSON webhook: bodySHA256 of the body on the URL, the URL signed alone.
void sign(HttpRequest& request, const RequestSigning& signing) {
  auto host = request.header("Host");
  if (host.empty()) {
    host = "proxy.example.com";
    request.headers["Host"] = host;
  }
  request.target = twilio::url_with_body_hash(request.target, request.body);
  const auto url = signing.signed_url("https", host, request.target);
  request.headers["X-Twilio-Signature"] = twilio::compute_signature(token, url, {});
}

void check_request_id(const std::string& id) {
  fuzz::require(!id.empty() && id.size() <= max_request_id_bytes, "a request id of the wrong length", id);
  for (const char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view("-_.:+/=").find(c) != std::string_view::npos;
    fuzz::require(ok, "a request id with a character outside its set", id);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const auto options = fuzz::take_line(rest);
  const bool validate = options.find('s') != std::string_view::npos;
  const bool sign_here = validate && options.find('h') != std::string_view::npos;
  Server server(validate, options.find('d') != std::string_view::npos);
  // An execution whose stream is live, and a blocked caller, as a running server has them.
  settle<Done>([&](auto done) { server.store->mark_connected("FNfuzz", "fuzz-owner", MarkUpdate::claim, 1h, done); });
  settle<CallerState>([&](auto done) { server.store->block("+15550001111", done); });

  for (std::size_t n = 0; n < max_requests && !rest.empty(); ++n) {
    const auto end = rest.find("\n===\n");
    auto parsed = parse_request(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 5);
    if (!parsed.ok) continue;
    check_request_id(parsed.request.request_id);
    if (sign_here) sign(parsed.request, server.signing);
    const auto response = answer(server.router, parsed.request);
    check_answer(parsed.request, response, validate, sign_here);
  }
  return 0;
}
