// The TwiML call flow. The PIN policy is check_pin's (caller_routes.h), exactly as /validate-pin
// applies it; this file only turns its outcomes into what the caller hears.
#include "proxy/callers/twiml_routes.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <set>

#include "core/json_text.h"
#include "core/log_text.h"
#include "core/xml_writer.h"
#include "proxy/callers/caller_id.h"
#include "proxy/http/limited_log.h"
#include "twilio/call_control.h"
#include "twilio/percent_encoding.h"
#include "twilio/stream_token.h"

namespace callproxy::proxy {
namespace {

// Longest CallSid taken (Twilio's are 34 characters); it becomes a stream parameter and log text.
constexpr std::size_t max_call_sid_bytes = 64;
// A <Start><Stream> (fork) lets the TwiML go on: the call is held with short pauses, after each
// of which Twilio asks /twiml/after-stream?poll=1 whether the stream still runs (as the Studio
// flow polls /executions): once it has ended, the after-stream step acts.
constexpr std::string_view fork_poll_seconds = "5";
// Polls in a row the state store may fail to answer before the call is let go (a minute of silence).
constexpr unsigned max_poll_store_errors = 9;
// How long a call's stream (its backends, for a reconnect) and its reconnect count are kept: as
// long as a call may last on Twilio.
constexpr std::chrono::hours call_values_ttl{4};

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
  // A checked target (twilio::is_e164 or is_sip_uri): <Dial><Number> or <Dial><Sip>.
  Twiml& dial(std::string_view to) {
    xml_.open("Dial");
    xml_.element(twilio::is_e164(to) ? "Number" : "Sip", {}, to);
    xml_.close();
    return *this;
  }
  Twiml& redirect(std::string_view url) {
    xml_.element("Redirect", {{"method", "POST"}}, url);
    return *this;
  }
  // While a forked stream runs: a pause, then Twilio asks again (`poll_url`).
  Twiml& hold_fork(std::string_view poll_url) {
    xml_.empty("Pause", {{"length", fork_poll_seconds}});
    return redirect(poll_url);
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

// Where a stream goes and with what: what a PIN check gave, kept for a reconnect.
struct StreamPlan {
  std::string backend_hosts, backend_ids;  // JSON texts; empty: none
};

// With stream tokens, what proves a request to /twiml/after-stream comes from the call's own flow
// (Twilio following the <Redirect> serve wrote): a MAC over the CallSid under the token secret,
// in the URL's query. Without it, anyone who learnt a CallSid could take its bot's decision or
// have a token minted for its backends. Empty without a secret (streams need no token then).
constexpr std::string_view resume_key_scope = "after-stream";  // never a backendHosts value (not JSON)
std::string resume_key(const TwimlApi& api, const std::string& call_sid) {
  if (api.media.stream_token_secret.empty()) return {};
  // As long as the call's values are kept: a call may last 4 hours.
  const auto expires = std::chrono::duration_cast<std::chrono::seconds>(api.now().time_since_epoch() + call_values_ttl);
  return twilio::mint_stream_token(api.media.stream_token_secret, call_sid, resume_key_scope, expires.count());
}

// Where Twilio goes after the stream: /twiml/after-stream, with the call's resume key; a fork's
// poll also says so, and how many polls in a row the store could not answer.
std::string after_stream_url(const TwimlApi& api, const std::string& call_sid, bool poll = false,
                             unsigned store_errors = 0) {
  std::string url = twiml_after_stream_url(api.signatures.public_url);
  char separator = '?';
  const auto add = [&](std::string_view key, const std::string& value) {
    url += separator;
    url += std::string(key) + "=" + twilio::percent_encode(value, "-_.~");
    separator = '&';
  };
  if (poll) add("poll", "1");
  if (store_errors > 0) add("errors", std::to_string(store_errors));
  if (const auto key = resume_key(api, call_sid); !key.empty()) add("resume", key);
  return url;
}

// `reconnect`: the how-manieth new stream this is for the call (0: the first); `pause`: seconds of
// silence before it (a bot that keeps failing gets a moment to come back).
HttpResponse stream(TwimlApi& api, const std::string& host, const std::string& call_sid, const StreamPlan& plan,
                    long long reconnect = 0, int pause = 0) {
  const auto& options = api.options;
  std::string hosts = names_any(plan.backend_hosts) ? plan.backend_hosts : std::string();
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
    // A token is used once, and one minted in the same second for the same call and backends
    // would be the same text: each reconnect's expires a second later than the one before (and
    // the pause later still: the stream starts after it).
    const auto expires = std::chrono::duration_cast<std::chrono::seconds>(now + api.media.stream_token_ttl).count() +
                         reconnect + pause;
    token = twilio::mint_stream_token(api.media.stream_token_secret, call_sid, hosts, expires);
  }

  spdlog::info("TwiML flow: call {} {} {}", call_sid, reconnect ? "streams again to" : "streams to",
               hosts.empty() ? "the --backend list" : hosts);
  Twiml out(options);
  if (!reconnect) out.say(options.connecting);
  auto& xml = out.xml();
  if (pause > 0) xml.empty("Pause", {{"length", std::to_string(pause)}});
  xml.open(fork ? "Start" : "Connect").open("Stream", {{"url", url}});
  const auto parameter = [&xml](std::string_view name, std::string_view value) {
    xml.empty("Parameter", {{"name", name}, {"value", value}});
  };
  if (!hosts.empty()) parameter("backendHosts", hosts);
  if (names_any(plan.backend_ids)) parameter("backendIds", plan.backend_ids);
  parameter("executionId", call_sid);
  parameter("streamMode", fork ? "fork" : "connect");
  if (!token.empty()) parameter("streamToken", token);
  xml.close().close();
  // Twilio goes on here once the stream's WebSocket is closed (a fork: at once, and polls): the
  // bot decided, or the stream ended without a decision (docs/call-control.md).
  if (fork) return out.hold_fork(after_stream_url(api, call_sid, true)).done();
  out.redirect(after_stream_url(api, call_sid));
  return out.done();
}

// The state store cannot say what the call is to do: a dial:<number> policy needs no store and
// still puts the caller through; otherwise the goodbye.
void store_unavailable(TwimlApi& api, const std::string& call_sid, const std::string& error, const Respond& respond) {
  store_error_log().write(error);
  api.callers.metrics.after_stream[AfterStream::unavailable].add();
  const auto policy = parse_after_stream(api.options.after_stream);
  if (policy && policy.value().kind == AfterStreamPolicy::Kind::dial) {
    spdlog::warn("TwiML flow: call {}: the state store cannot answer: dialling {}", call_sid, policy.value().dial);
    return respond(Twiml(api.options).dial(policy.value().dial).done());
  }
  spdlog::warn("TwiML flow: call {}: the state store cannot answer: goodbye", call_sid);
  respond(goodbye(api.options));
}

// Reconnects counted per call. A call an instance handed over (a drain with --drain-handover marks
// it handover:<CallSid>) is moved at once and the move is not held against it: what counts
// against --max-reconnects is the reconnects less the handovers. Every new stream still gets its
// own number, so that no two of its tokens are the same text.
void reconnect(TwimlApi& api, const std::string& host, const std::string& call_sid, const StreamPlan& plan,
               const Respond& respond) {
  auto& store = api.callers.store;
  store.get_value(
      "handover:" + call_sid, true,
      [&api, host, call_sid, plan, respond](StoreResult<std::optional<std::string>> marker) {
        if (!marker) return store_unavailable(api, call_sid, marker.error(), respond);
        const bool handed_over = marker.value().has_value();
        api.callers.store.increment(
            "reconnects:" + call_sid, call_values_ttl,
            [&api, host, call_sid, plan, handed_over, respond](StoreResult<long long> count) {
              if (!count) return store_unavailable(api, call_sid, count.error(), respond);
              const auto done = [&api, host, call_sid, plan, handed_over, respond,
                                 reconnects = count.value()](StoreResult<long long> handovers) {
                if (!handovers) return store_unavailable(api, call_sid, handovers.error(), respond);
                const auto& options = api.options;
                auto& counts = api.callers.metrics.after_stream;
                const auto failures = reconnects - handovers.value();
                if (failures > static_cast<long long>(options.max_reconnects)) {
                  spdlog::warn(
                      "TwiML flow: call {}: its stream ended again after {} reconnect{} (--max-reconnects): goodbye",
                      call_sid, options.max_reconnects, options.max_reconnects == 1 ? "" : "s");
                  counts[AfterStream::reconnects_spent].add();
                  return respond(goodbye(options));
                }
                counts[AfterStream::reconnect].add();
                // The first reconnect is at once (an instance failed: another takes the call); a stream
                // that keeps ending gets its bot a moment: 1 s before the second, 2 s before the third...
                const int pause = handed_over || failures < 2 ? 0
                                                              : static_cast<int>(std::min<long long>(failures - 1, 5));
                if (handed_over) spdlog::info("TwiML flow: call {}: handed over by a draining instance", call_sid);
                respond(stream(api, host, call_sid, plan, reconnects, pause));
              };
              if (handed_over) return api.callers.store.increment("handovers:" + call_sid, call_values_ttl, done);
              api.callers.store.get_value("handovers:" + call_sid, false,
                                          [done](StoreResult<std::optional<std::string>> text) {
                                            if (!text) return done(Error{text.error()});
                                            long long n = 0;
                                            if (text.value()) {
                                              const auto& t = *text.value();
                                              std::from_chars(t.data(), t.data() + t.size(), n);
                                            }
                                            done(n);
                                          });
            });
      });
}

// What a stream that ended without a decision leads to: --after-stream.
void after_stream_policy(TwimlApi& api, const std::string& host, const std::string& call_sid, bool bot_ended,
                         const Respond& respond) {
  const auto& options = api.options;
  auto& counts = api.callers.metrics.after_stream;
  const auto policy = parse_after_stream(options.after_stream);  // checked at start
  const auto kind = policy ? policy.value().kind : AfterStreamPolicy::Kind::goodbye;
  if (kind == AfterStreamPolicy::Kind::dial) {
    counts[AfterStream::dial].add();
    spdlog::info("TwiML flow: call {}: the stream ended; dialling {}", call_sid, policy.value().dial);
    return respond(Twiml(options).dial(policy.value().dial).done());
  }
  // A bot that let the caller go is not given them back.
  if (kind == AfterStreamPolicy::Kind::goodbye || bot_ended) {
    counts[AfterStream::goodbye].add();
    return respond(goodbye(options));
  }
  // reconnect: as the PIN check had it, with a fresh token, --max-reconnects times per call.
  auto& store = api.callers.store;
  store.get_value(
      "stream:" + call_sid, false, [&api, host, call_sid, respond](StoreResult<std::optional<std::string>> plan_text) {
        const auto& options = api.options;
        auto& counts = api.callers.metrics.after_stream;
        if (!plan_text) return store_unavailable(api, call_sid, plan_text.error(), respond);
        if (!plan_text.value()) {
          spdlog::info("TwiML flow: call {}: the stream ended and no stream is known for it to resume", call_sid);
          counts[AfterStream::goodbye].add();
          return respond(goodbye(options));
        }
        const auto parsed = nlohmann::json::parse(*plan_text.value(), nullptr, false);
        StreamPlan plan;
        if (parsed.is_object()) {
          plan.backend_hosts = parsed.value("backendHosts", "");
          plan.backend_ids = parsed.value("backendIds", "");
        }
        reconnect(api, host, call_sid, plan, respond);
      });
}

// The bot's decision, as the flow carries it out.
void act_on(TwimlApi& api, const std::string& host, const std::string& call_sid, const twilio::CallDecision& decision,
            const Respond& respond) {
  const auto& options = api.options;
  auto& counts = api.callers.metrics.after_stream;
  if (const auto* hangup = std::get_if<twilio::HangupDecision>(&decision)) {
    counts[AfterStream::hangup].add();
    return respond(Twiml(options).say(hangup->say).hang_up().done());
  }
  if (const auto* transfer = std::get_if<twilio::TransferDecision>(&decision)) {
    // Checked when the bot sent it; again here, against this instance's list.
    if (api.media.transfer_allow.allows(transfer->to)) {
      counts[AfterStream::transfer].add();
      spdlog::info("TwiML flow: call {}: transferred to {}", call_sid, transfer->to);
      return respond(Twiml(options).dial(transfer->to).done());
    }
    spdlog::warn("TwiML flow: call {}: transfer to {} is not in this instance's --transfer-allow", call_sid,
                 transfer->to);
    return after_stream_policy(api, host, call_sid, true, respond);
  }
  const auto& end = std::get<twilio::EndDecision>(decision);
  if (options.handoff_url.empty()) return after_stream_policy(api, host, call_sid, true, respond);
  std::string url = options.handoff_url;
  const auto query_at = url.find('?');
  char separator = query_at == std::string::npos ? '?' : '&';
  std::set<std::string> taken;  // the operator's own parameters win over the bot's
  if (query_at != std::string::npos) {
    for (const auto& [key, value] : twilio::parse_form(std::string_view(url).substr(query_at + 1))) taken.insert(key);
  }
  for (const auto& [key, value] : end.handoff) {
    if (taken.count(key) > 0) {
      spdlog::warn("TwiML flow: call {}: handoff field '{}' is left out: --handoff-url sets it", call_sid, key);
      continue;
    }
    url += separator;
    url += twilio::percent_encode(key, "-_.~") + "=" + twilio::percent_encode(value, "-_.~");
    separator = '&';
  }
  counts[AfterStream::handoff].add();
  spdlog::info("TwiML flow: call {}: handed off to --handoff-url with {} field{}", call_sid, end.handoff.size(),
               end.handoff.size() == 1 ? "" : "s");
  respond(Twiml(options).redirect(url).done());
}

void after_stream_step(TwimlApi& api, const std::string& host, const std::string& call_sid, const Respond& respond);

// POST /twiml/after-stream: Twilio is past <Connect><Stream> (or, ?poll=1, holds a forked
// stream's call); the bot's decision, if any, is taken (once: a second request finds none), else
// the policy applies.
void after_stream(TwimlApi& api, const HttpRequest& request, const Respond& respond) {
  const auto form = read_form(request);
  if (form.call_sid.size() > max_call_sid_bytes) {
    return respond(
        HttpResponse::error(400, "field 'CallSid' is longer than " + std::to_string(max_call_sid_bytes) + " bytes"));
  }
  if (form.call_sid.empty()) return respond(HttpResponse::error(400, "field 'CallSid' is missing"));
  bool poll = false;
  unsigned errors = 0;
  std::string resume;
  for (const auto& [key, value] : twilio::parse_form(request.query())) {
    if (key == "poll") poll = value == "1";
    if (key == "errors") errors = value.size() == 1 && value[0] >= '1' && value[0] <= '9' ? value[0] - '0' : 0;
    if (key == "resume") resume = value;
  }
  if (!api.media.stream_token_secret.empty()) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(api.now().time_since_epoch()).count();
    if (twilio::check_stream_token(api.media.stream_token_secret, resume, form.call_sid, resume_key_scope, now) !=
        twilio::StreamTokenVerdict::valid) {
      // Twilio would play an application error for a 4xx: the caller hears the goodbye instead
      // (a forger learns nothing from it), and nothing of the call is touched.
      api.callers.metrics.after_stream[AfterStream::refused].add();
      spdlog::warn("TwiML flow: call {}: after-stream request without its call's resume key (a changed "
                   "--stream-token-secret, or not Twilio): goodbye, nothing of the call touched",
                   logged_text(form.call_sid, max_call_sid_bytes));
      return respond(goodbye(api.options));
    }
  }
  if (poll) {
    // A forked stream's call, held: on while its stream runs (the stream marks the CallSid, its
    // executionId, connected). A store that cannot say keeps the call held a few polls, then lets
    // it go.
    return api.callers.store.is_connected(form.call_sid, [&api, host = request.header("Host"), call_sid = form.call_sid,
                                                          errors, respond](StoreResult<bool> connected) {
      if (connected && connected.value()) {
        return respond(Twiml(api.options).hold_fork(after_stream_url(api, call_sid, true)).done());
      }
      if (!connected) {
        if (errors + 1 < max_poll_store_errors) {
          store_error_log().write(connected.error());
          return respond(Twiml(api.options).hold_fork(after_stream_url(api, call_sid, true, errors + 1)).done());
        }
        return store_unavailable(api, call_sid, connected.error(), respond);
      }
      after_stream_step(api, host, call_sid, respond);
    });
  }
  after_stream_step(api, request.header("Host"), form.call_sid, respond);
}

// The step itself, for a request already read and checked.
void after_stream_step(TwimlApi& api, const std::string& host, const std::string& call_sid, const Respond& respond) {
  api.callers.store.get_value(
      "decision:" + call_sid, true, [&api, host, call_sid, respond](StoreResult<std::optional<std::string>> decision) {
        if (!decision) return store_unavailable(api, call_sid, decision.error(), respond);
        if (decision.value()) {
          auto parsed = twilio::read_call_control(*decision.value());
          if (parsed && parsed.value()) return act_on(api, host, call_sid, *parsed.value(), respond);
          spdlog::warn("TwiML flow: call {}: its kept decision cannot be read: the policy applies", call_sid);
        }
        after_stream_policy(api, host, call_sid, false, respond);
      });
}

// What a reconnect needs, kept for the call: only a call that passed its PIN check can stream
// again, and to where that check sent it. The answer does not wait for it (a store that cannot
// keep it makes a later reconnect say goodbye).
void keep_plan(TwimlApi& api, const std::string& call_sid, const StreamPlan& plan) {
  const auto text = dump_json(nlohmann::json{{"backendHosts", plan.backend_hosts}, {"backendIds", plan.backend_ids}});
  api.callers.store.put_value("stream:" + call_sid, text, call_values_ttl, [call_sid](StoreResult<Done> kept) {
    if (!kept)
      spdlog::warn("TwiML flow: call {}: its stream cannot be kept for a reconnect: {}", call_sid, kept.error());
  });
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
                case PinCheck::Outcome::authenticated: {
                  StreamPlan plan{check.backend_hosts, check.backend_ids};
                  keep_plan(api, call_sid, plan);
                  return respond(stream(api, host, call_sid, plan));
                }
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

namespace {
std::string http_base(std::string_view public_url) {
  if (public_url.empty()) return {};
  return with_scheme(without_trailing_slash(public_url), {{"wss://", "https://"}, {"ws://", "http://"}});
}
}  // namespace

std::string twiml_pin_action(std::string_view public_url, unsigned tries) {
  return http_base(public_url) + "/twiml/pin" + (tries > 0 ? "?tries=" + std::to_string(tries) : std::string());
}

std::string twiml_after_stream_url(std::string_view public_url) {
  return http_base(public_url) + "/twiml/after-stream";
}

Result<AfterStreamPolicy> parse_after_stream(std::string_view text) {
  if (text == "goodbye") return AfterStreamPolicy{AfterStreamPolicy::Kind::goodbye, {}};
  if (text == "reconnect") return AfterStreamPolicy{AfterStreamPolicy::Kind::reconnect, {}};
  if (text.substr(0, 5) == "dial:") {
    const auto to = text.substr(5);
    if (twilio::is_e164(to) || twilio::is_sip_uri(to)) {
      return AfterStreamPolicy{AfterStreamPolicy::Kind::dial, std::string(to)};
    }
  }
  std::string why = "'";
  why.append(text.substr(0, 80));
  why += "' is not an after-stream policy: goodbye, reconnect, or dial:<+E.164 number or sip:user@host>";
  return Error{std::move(why)};
}

std::string handoff_url_error(std::string_view url) {
  if (url.empty()) return {};
  const bool scheme = url.substr(0, 8) == "https://" || url.substr(0, 7) == "http://";
  const auto host_at = url.find("://") + 3;
  bool clean = url.size() <= 1024;
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#' || c == '"' || c == '<' || c == '>') {
      clean = false;
    }
  }
  if (scheme && clean && host_at < url.size() && url[host_at] != '/') return {};
  std::string why = "'";
  why.append(url.substr(0, 80));
  why += "' is not a handoff URL: an absolute http:// or https:// URL of at most 1024 bytes, without spaces or "
         "a fragment";
  return why;
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
  router.add("POST", "/twiml/after-stream",
             signed_route(api.callers.signing, [&api](const HttpRequest& request, const RouteParams&, Respond respond) {
               after_stream(api, request, respond);
             }));
}

}  // namespace callproxy::proxy
