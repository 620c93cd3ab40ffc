// The TwiML call flow. The PIN policy is check_pin's (caller_routes.h), exactly as /validate-pin
// applies it; this file only turns its outcomes into what the caller hears.
#include "proxy/callers/twiml_routes.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>

#include "core/json_text.h"
#include "core/xml_writer.h"
#include "proxy/callers/caller_id.h"
#include "proxy/http/limited_log.h"
#include "twilio/percent_encoding.h"
#include "twilio/stream_token.h"

namespace callproxy::proxy {
namespace {

// Longest CallSid taken (Twilio's are 34 characters); it becomes a stream parameter and log text.
constexpr std::size_t max_call_sid_bytes = 64;
// A <Start><Stream> (fork) lets the TwiML go on: the call is held with a pause as long as a call
// may last on Twilio (4 hours), and ends when the caller hangs up.
constexpr std::string_view fork_pause_seconds = "14400";

HttpResponse twiml(std::string xml) { return HttpResponse{200, "text/xml; charset=utf-8", std::move(xml), {}}; }

struct Form {
  std::string from, call_sid, digits;
};

Form read_form(const HttpRequest& request) {
  Form form;
  for (auto& [key, value] : twilio::parse_form(request.body)) {
    if (key == "From") form.from = std::move(value);
    if (key == "CallSid") form.call_sid = std::move(value);
    if (key == "Digits") form.digits = std::move(value);
  }
  return form;
}

// A TwiML document being written: <Response> and the verbs the options shape.
class Twiml {
 public:
  explicit Twiml(const TwimlOptions& options) : options_(options) { xml_.open("Response"); }

  Twiml& say(std::string_view text) {
    if (text.empty()) return *this;
    XmlAttributes attributes;
    if (!options_.voice.empty()) attributes.emplace_back("voice", options_.voice);
    if (!options_.language.empty()) attributes.emplace_back("language", options_.language);
    xml_.element("Say", attributes, text);
    return *this;
  }
  Twiml& hang_up() {
    xml_.empty("Hangup");
    return *this;
  }
  // The PIN prompt, then (when the caller says nothing) the goodbye.
  Twiml& gather(const std::string& action) {
    const auto digits = std::to_string(options_.pin_digits);
    const auto timeout = std::to_string(options_.gather_timeout);
    XmlAttributes attributes{{"input", "dtmf"}};
    if (options_.pin_digits > 0) attributes.emplace_back("numDigits", digits);
    attributes.insert(attributes.end(),
                      {{"finishOnKey", "#"}, {"action", action}, {"method", "POST"}, {"timeout", timeout}});
    xml_.open("Gather", attributes);
    say(options_.welcome);
    xml_.close();
    return say(options_.goodbye).hang_up();
  }
  XmlWriter& xml() { return xml_; }
  HttpResponse done() { return twiml(xml_.finish()); }

 private:
  const TwimlOptions& options_;
  XmlWriter xml_;
};

HttpResponse goodbye(const TwimlOptions& options, std::string_view before = {}) {
  return Twiml(options).say(before).say(options.goodbye).hang_up().done();
}

HttpResponse try_later(const TwimlOptions& options) { return Twiml(options).say(options.try_later).hang_up().done(); }

std::string_view without_trailing_slash(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return url;
}

// `url` with its scheme replaced as `schemes` says (pairs of from, to); unknown schemes are kept.
std::string with_scheme(std::string_view url,
                        std::initializer_list<std::pair<std::string_view, std::string_view>> schemes) {
  for (const auto& [from, to] : schemes) {
    if (url.substr(0, from.size()) == from) return std::string(to) + std::string(url.substr(from.size()));
  }
  return std::string(url);
}

// "[]" and "" both mean none.
bool names_any(std::string_view json_list) { return !json_list.empty() && json_list != "[]"; }

// ?tries=N of the gather's action: wrong PINs this call has entered. nullopt when malformed.
std::optional<unsigned> tries_of(const HttpRequest& request) {
  unsigned tries = 0;
  for (const auto& [key, value] : twilio::parse_form(request.query())) {
    if (key != "tries") continue;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), tries);
    if (error != std::errc() || end != value.data() + value.size() || value.empty()) return std::nullopt;
  }
  return tries;
}

HttpResponse stream(TwimlApi& api, const std::string& host, const std::string& call_sid, const PinCheck& check) {
  const auto& options = api.options;
  std::string hosts = names_any(check.backend_hosts) ? check.backend_hosts : std::string();
  if (hosts.empty() && !options.backends.empty()) hosts = dump_json(nlohmann::json(options.backends));
  if (api.signatures.public_url.empty() && !api.warned_host.exchange(true)) {
    spdlog::warn("TwiML flow: no --public-url: the <Stream> URL is built from the webhook's Host header "
                 "(wss://<Host>/media); set --public-url to the URL Twilio reaches this server at");
  }
  const auto url = twiml_stream_url(api.signatures.public_url, host);
  const bool fork = api.media.stream_mode == StreamMode::fork;
  std::string token;
  if (!api.media.stream_token_secret.empty()) {
    const auto now = api.now().time_since_epoch();
    const auto expires = std::chrono::duration_cast<std::chrono::seconds>(now + api.media.stream_token_ttl).count();
    token = twilio::mint_stream_token(api.media.stream_token_secret, call_sid, hosts, expires);
  }

  Twiml out(options);
  out.say(options.connecting);
  auto& xml = out.xml();
  xml.open(fork ? "Start" : "Connect").open("Stream", {{"url", url}});
  const auto parameter = [&xml](std::string_view name, std::string_view value) {
    xml.empty("Parameter", {{"name", name}, {"value", value}});
  };
  if (!hosts.empty()) parameter("backendHosts", hosts);
  if (names_any(check.backend_ids)) parameter("backendIds", check.backend_ids);
  parameter("executionId", call_sid);
  parameter("streamMode", fork ? "fork" : "connect");
  if (!token.empty()) parameter("streamToken", token);
  xml.close().close();
  if (fork) xml.empty("Pause", {{"length", fork_pause_seconds}});
  spdlog::info("TwiML flow: call {} streams to {}", call_sid, hosts.empty() ? "the --backend list" : hosts);
  return out.done();
}

void voice(TwimlApi& api, const HttpRequest& request, const Respond& respond) {
  const auto form = read_form(request);
  if (form.from.size() > max_caller_id_bytes) {
    return respond(
        HttpResponse::error(400, "field 'From' is longer than " + std::to_string(max_caller_id_bytes) + " bytes"));
  }
  const auto caller_id = canonical_caller_id(form.from);
  const auto& options = api.options;
  if (is_withheld_caller(caller_id)) return respond(goodbye(options));
  api.callers.store.caller(caller_id, [&api, respond](StoreResult<CallerState> state) {
    const auto& options = api.options;
    if (!state) {
      store_error_log().write(state.error());
      return respond(try_later(options));
    }
    if (state.value().blocked) return respond(goodbye(options));
    respond(Twiml(options).gather(twiml_pin_action(api.signatures.public_url, 0)).done());
  });
}

void pin(TwimlApi& api, const HttpRequest& request, const Respond& respond) {
  const auto& options = api.options;
  const auto tries = tries_of(request);
  if (!tries) return respond(HttpResponse::error(400, "query 'tries' must be a number"));
  auto form = read_form(request);
  if (form.call_sid.size() > max_call_sid_bytes) {
    return respond(
        HttpResponse::error(400, "field 'CallSid' is longer than " + std::to_string(max_call_sid_bytes) + " bytes"));
  }
  if (form.call_sid.empty()) return respond(HttpResponse::error(400, "field 'CallSid' is missing"));
  // A withheld number never got a gather: nothing to check or count against "anonymous".
  if (is_withheld_caller(canonical_caller_id(form.from))) return respond(goodbye(options));
  // Another try, or the goodbye once this call has had its tries.
  const auto wrong = [&api, tries = *tries](bool blocked) {
    const auto& options = api.options;
    if (blocked || tries + 1 >= options.max_tries) return goodbye(options, options.wrong_pin);
    Twiml out(options);
    out.say(options.wrong_pin);
    return out.gather(twiml_pin_action(api.signatures.public_url, tries + 1)).done();
  };
  if (form.digits.empty()) return respond(wrong(false));  // '#' alone: nothing to check or count
  auto checked = checked_pin_request(std::move(form.digits), std::move(form.from), "Digits", "From");
  if (!checked) return respond(HttpResponse::error(400, checked.error()));
  const auto& [digits, caller_id] = checked.value();
  check_pin(api.callers, caller_id, digits, pin_budget_source(request, api.callers.signing),
            [&api, host = request.header("Host"), call_sid = form.call_sid, wrong, respond](const PinCheck& check) {
              const auto& options = api.options;
              switch (check.outcome) {
                case PinCheck::Outcome::authenticated: return respond(stream(api, host, call_sid, check));
                case PinCheck::Outcome::wrong: return respond(wrong(check.state.blocked));
                case PinCheck::Outcome::refused: return respond(wrong(false));  // as /validate-pin: a wrong PIN
                case PinCheck::Outcome::blocked: return respond(goodbye(options));
                case PinCheck::Outcome::unavailable: return respond(try_later(options));
                case PinCheck::Outcome::store_error:
                  store_error_log().write(check.error);
                  return respond(try_later(options));
              }
            });
}

}  // namespace

std::string twiml_stream_url(std::string_view public_url, std::string_view host) {
  if (public_url.empty()) return "wss://" + std::string(host) + "/media";
  return with_scheme(without_trailing_slash(public_url), {{"https://", "wss://"}, {"http://", "ws://"}}) + "/media";
}

std::string twiml_pin_action(std::string_view public_url, unsigned tries) {
  std::string base;
  if (!public_url.empty()) {
    base = with_scheme(without_trailing_slash(public_url), {{"wss://", "https://"}, {"ws://", "http://"}});
  }
  return base + "/twiml/pin" + (tries > 0 ? "?tries=" + std::to_string(tries) : std::string());
}

void add_twiml_routes(Router& router, TwimlApi& api) {
  router.add("POST", "/twiml/voice",
             signed_route(api.callers.signing, [&api](const HttpRequest& request, const RouteParams&, Respond respond) {
               voice(api, request, respond);
             }));
  router.add("POST", "/twiml/pin",
             signed_route(api.callers.signing, [&api](const HttpRequest& request, const RouteParams&, Respond respond) {
               pin(api, request, respond);
             }));
}

}  // namespace callproxy::proxy
