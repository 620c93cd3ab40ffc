// serve's Callers and Call flow settings (proxy/callers' CallersOptions and TwimlOptions).
#include <spdlog/spdlog.h>

#include "cli/duration.h"
#include "cli/environment.h"
#include "cli/other_variables.h"
#include "cli/serve_flags.h"
#include "proxy/callers/caller_id.h"

namespace callproxy::cli {
void resolve_pin_api_timeout(ServeFlags& flags, const CLI::App& serve) {
  if (serve.count("--pin-api-timeout-ms") == 0) return;
  if (serve.count("--pin-api-timeout") > 0) {
    spdlog::warn("--pin-api-timeout-ms / SERVER_API_TIMEOUT_MS ignored: --pin-api-timeout is set");
    return;
  }
  flags.options.callers.pin_api_timeout = std::chrono::milliseconds(flags.pin_api_timeout_ms);
  if (!environment_has("SERVER_API_TIMEOUT_MS")) {
    spdlog::warn("--pin-api-timeout-ms is deprecated: write --pin-api-timeout {}ms (or in seconds)",
                 flags.pin_api_timeout_ms);
  }
}

void add_callers_flags(CLI::App& app, proxy::CallersOptions& callers) {
  app.option_defaults()->group(group::callers);
  app.add_option("--pins-file", callers.pins_file, "JSON list of PINs and their backends (reloaded on SIGHUP)")
      ->envname("CALLPROXY_PINS_FILE")
      ->check(CLI::ExistingFile);
  app.add_option("--pin-api", callers.pin_api,
                 "Identity API asked for PINs the pins file does not know (POST <URL>/identity-api/pin)")
      ->envname("SERVER_API_HOST");
  auto* timeout = add_duration(app, "--pin-api-timeout", callers.pin_api_timeout,
                               "How long the identity API has to answer. SERVER_API_TIMEOUT_MS (the Node service's "
                               "variable, in milliseconds) sets it too; this setting wins over it",
                               {0.001, 600})
                      ->envname("CALLPROXY_PIN_API_TIMEOUT");
  also_set_by(timeout, [] { return environment_has("SERVER_API_TIMEOUT_MS"); });
  app.add_option("--api-key", callers.api_key,
                 "Key the admin routes require in the apiKey header (at least 16 characters; none: the admin "
                 "routes refuse everyone)")
      ->envname("SERVER_API_KEY")
      // Checked as it is parsed, so a config file's short key is refused even where SERVER_API_KEY
      // overrides it (config_file.h checks every key of a file on its own).
      ->check(CLI::Validator([](const std::string& key) { return proxy::api_key_problem(key); }, "", "api key"));
  add_switch(app, "--debug-routes", callers.debug_routes, "ENABLE_DEBUG_ROUTES",
             "Enable the debug routes (POST /blocked-callers/:id, /auth-attempts/:id; with a key set, those "
             "that write need it)");
  app.add_option("--attempts-allowed", callers.attempts.allowed, "Failed PINs allowed; one more blocks the caller")
      ->envname("INVALID_AUTH_ATTEMPTS_ALLOWED")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  add_duration(app, "--attempts-ttl", callers.attempts.ttl,
               "How long failed attempts are remembered after the last one (whole seconds)",
               {1, 10.0 * 365 * 86400, true})
      ->envname("INVALID_AUTH_ATTEMPTS_CACHE_TTL_SECONDS");

  // Failed-PIN budgets that rotating caller IDs cannot get around (in memory, per process).
  auto& budget = callers.pin_budget;
  app.add_option("--pin-failures-global", budget.global,
                 "Failed PIN checks allowed per window across all callers; then every check is refused (0 = no limit)")
      ->envname("CALLPROXY_PIN_FAILURES_GLOBAL")
      ->check(CLI::Range(0u, 1000000u))
      ->capture_default_str();
  app.add_option("--pin-failures-per-source", budget.per_source,
                 "Failed PIN checks allowed per window from one address (IPv6: one /64); "
                 "not applied with --validate-signatures (0 = no limit)")
      ->envname("CALLPROXY_PIN_FAILURES_PER_SOURCE")
      ->check(CLI::Range(0u, 1000000u))
      ->capture_default_str();
  add_duration(app, "--pin-failure-window", budget.window, "The window over which failed PIN checks are counted",
               {1, 86400})
      ->envname("CALLPROXY_PIN_FAILURE_WINDOW");
  app.add_option("--pin-failure-sources", budget.max_sources, "Source addresses whose failures are tracked at once")
      ->envname("CALLPROXY_PIN_FAILURE_SOURCES")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}))
      ->capture_default_str();
}

void add_call_flow_flags(CLI::App& app, proxy::TwimlOptions& twiml) {
  app.option_defaults()->group(group::call_flow);
  const auto prompt = [&app](const std::string& name, std::string& target, const std::string& help,
                             const std::string& env) {
    app.add_option(name, target, "What a caller hears " + help)->envname(env)->capture_default_str();
  };
  prompt("--twiml-welcome", twiml.welcome, "before entering the PIN", "CALLPROXY_TWIML_WELCOME");
  prompt("--twiml-wrong-pin", twiml.wrong_pin, "after a wrong PIN", "CALLPROXY_TWIML_WRONG_PIN");
  prompt("--twiml-goodbye", twiml.goodbye, "before the flow hangs up (blocked, withheld, no PIN entered, out of tries)",
         "CALLPROXY_TWIML_GOODBYE");
  prompt("--twiml-connecting", twiml.connecting, "after the right PIN, before the stream",
         "CALLPROXY_TWIML_CONNECTING");
  prompt("--twiml-try-later", twiml.try_later,
         "when the PIN cannot be checked (PIN API or state store down); then the flow hangs up",
         "CALLPROXY_TWIML_TRY_LATER");
  app.add_option("--twiml-voice", twiml.voice, "<Say voice> (alice, Polly.Joanna, ...; empty: Twilio's default)")
      ->envname("CALLPROXY_TWIML_VOICE")
      ->capture_default_str();
  app.add_option("--twiml-language", twiml.language, "<Say language> (empty: Twilio's default)")
      ->envname("CALLPROXY_TWIML_LANGUAGE")
      ->capture_default_str();
  app.add_option("--twiml-pin-digits", twiml.pin_digits,
                 "Digits of a PIN (<Gather numDigits>); 0: the caller ends it with #")
      ->envname("CALLPROXY_TWIML_PIN_DIGITS")
      ->check(CLI::Range(0u, static_cast<unsigned>(proxy::max_pin_bytes)))
      ->capture_default_str();
  add_duration(
      app, "--twiml-gather-timeout",
      [&twiml](std::chrono::milliseconds value) {
        twiml.gather_timeout = static_cast<unsigned>(std::chrono::duration_cast<std::chrono::seconds>(value).count());
      },
      std::to_string(twiml.gather_timeout),
      "Silence while the PIN is entered before the goodbye (<Gather timeout>; whole seconds)", {1, 600, true})
      ->envname("CALLPROXY_TWIML_GATHER_TIMEOUT");
  app.add_option("--twiml-max-tries", twiml.max_tries,
                 "Wrong PINs one call may enter; after the last, goodbye (each one also counts towards "
                 "--attempts-allowed)")
      ->envname("CALLPROXY_TWIML_MAX_TRIES")
      ->check(CLI::Range(1u, 100u))
      ->capture_default_str();
  app.add_option("--twiml-backend", twiml.backends,
                 "The backendHosts a stream carries when the PIN names no backend (repeatable; none: the stream "
                 "names none and --backend applies)")
      ->envname("CALLPROXY_TWIML_BACKEND")
      ->delimiter(',')
      ->check(check_backend_entry);
  app.add_option("--after-stream", twiml.after_stream,
                 "What a call does when its stream ends without a bot's decision (the bot gone, serve draining or "
                 "killed): goodbye, reconnect (a new stream, up to --max-reconnects times), or dial:<+E.164 or "
                 "sip:user@host> (a person)")
      ->envname("CALLPROXY_AFTER_STREAM")
      ->capture_default_str()
      ->check([](const std::string& text) {
        const auto policy = proxy::parse_after_stream(text);
        return policy ? std::string() : policy.error();
      });
  app.add_option("--max-reconnects", twiml.max_reconnects,
                 "New streams one call may get with --after-stream reconnect; then goodbye")
      ->envname("CALLPROXY_MAX_RECONNECTS")
      ->check(CLI::Range(0u, 100u))
      ->capture_default_str();
  app.add_option("--handoff-url", twiml.handoff_url,
                 "Your TwiML app's URL a bot's {\"event\":\"end\",\"handoff\":{...}} redirects the call to, the "
                 "handoff fields in its query (none: --after-stream applies)")
      ->envname("CALLPROXY_HANDOFF_URL")
      ->check([](const std::string& url) { return proxy::handoff_url_error(url); });
}

void add_transfer_flags(CLI::App& app, std::vector<std::string>& transfer_allow) {
  app.option_defaults()->group(group::call_flow);
  app.add_option("--transfer-allow", transfer_allow,
                 "Where a bot may transfer its call: +15551234567, +1555* (a prefix; +* any number), "
                 "sip:agent@pbx.example.com, sip:*@pbx.example.com (repeatable; comma-separated in the variable; "
                 "none: no transfer)")
      ->envname("CALLPROXY_TRANSFER_ALLOW")
      ->delimiter(',')
      ->check([](const std::string& pattern) { return proxy::transfer_pattern_error(pattern); });
}

void add_deprecated_flags(CLI::App& app, ServeFlags& flags) {
  app.option_defaults()->group(group::deprecated);
  // The Node service's variable is in milliseconds and keeps working; the flag of that name was
  // callproxy's only setting in milliseconds, kept so that old command lines and files still start.
  app.add_option("--pin-api-timeout-ms", flags.pin_api_timeout_ms,
                 "Deprecated: write --pin-api-timeout (2.5 or 2500ms). The identity API's time to answer in "
                 "milliseconds; its variable is the Node service's")
      ->envname("SERVER_API_TIMEOUT_MS")
      ->check(CLI::Range(1LL, 600000LL));
}

}  // namespace callproxy::cli
