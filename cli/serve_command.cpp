// callproxy serve: flags, environment (the Node service's names keep working) and a config file
// -> ServeOptions.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/finite_range.h"
#include "proxy/callers/caller_id.h"
#include "proxy/callers/twiml_routes.h"
#include "proxy/media/backend_target.h"
#include "proxy/server.h"
#include "twilio/signature.h"

namespace callproxy::cli {
namespace {

struct ServeFlags {
  proxy::ServeOptions options;
  std::vector<std::string> allow;
  std::string backend_format = "simple";
  std::string replies = "first";
  std::string stream_mode = "connect";
  std::string redis_keys = "node";
  bool print_config = false;
};

// The Node service's REMOTE_CACHE_ENABLED + REDIS_HOST, when neither --store nor CALLPROXY_STORE
// is given (a config file's store is left out when they are set: the environment wins).
void apply_node_cache_settings(proxy::ServeOptions& options, const CLI::App& app) {
  if (app.count("--store") > 0) return;
  if (auto store = node_cache_store()) options.store = *store;
}

int run_serve(ServeFlags& flags, const CLI::App& app) {
  if (flags.print_config) {
    std::cout << config_template(*app.get_parent(), app.get_name());
    return exit_ok;
  }
  auto& options = flags.options;
  apply_node_cache_settings(options, app);
  options.redis_keys = proxy::parse_redis_keys(flags.redis_keys).value();  // checked by the flag
  options.media.backend_format = flags.backend_format == "twilio" ? proxy::BackendFormat::twilio
                                                                  : proxy::BackendFormat::simple;
  options.media.replies = flags.replies == "none" ? proxy::ReplyPolicy::none : proxy::ReplyPolicy::first;
  options.media.stream_mode = flags.stream_mode == "fork" ? proxy::StreamMode::fork : proxy::StreamMode::connect;
  try {
    // No key at all leaves the admin routes shut; a key given empty is a mistake, not a choice.
    if (app.get_option("--api-key")->count() > 0 && options.callers.api_key.empty()) {
      throw std::invalid_argument("--api-key (SERVER_API_KEY) is empty: give a key of at least " +
                                  std::to_string(proxy::min_api_key_chars) + " characters, or none");
    }
    if (app.get_option("--stream-token-secret")->count() > 0 && options.media.stream_token_secret.empty()) {
      throw std::invalid_argument("--stream-token-secret (CALLPROXY_STREAM_TOKEN_SECRET) is empty: give a secret of at "
                                  "least 16 characters, or none");
    }
    for (const auto& pattern : flags.allow) options.media.backend_allowlist.add(pattern);
    proxy::Server server(options);
    server.listen();
    if (options.signatures.validate) {
      spdlog::info("Twilio signatures are checked on /media (signed URL: {})",
                   options.signatures.public_url.empty() ? "wss://<Host header>/media"
                                                         : proxy::twiml_stream_url(options.signatures.public_url, {}));
    }
    server.run();
    return exit_ok;
  } catch (const std::invalid_argument& e) {
    spdlog::error("serve: {}", e.what());
    return exit_usage;
  } catch (const std::exception& e) {
    spdlog::error("serve: {}", e.what());
    return exit_failure;
  }
}

// "30", "0.5": a duration in seconds as a user writes it.
std::string seconds_text(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000);
  auto text = std::to_string(ms / 1000) + "." + std::to_string(1000 + ms % 1000).substr(1);
  while (text.back() == '0') text.pop_back();
  return text;
}

// A --backend or --twiml-backend entry: "" when parse_backend takes it, else why not.
std::string check_backend_entry(const std::string& entry) {
  auto parsed = proxy::parse_backend(entry);
  return parsed ? std::string() : parsed.error();
}

// --public-url: signatures are checked against it, so anything that is not an absolute http(s) or
// ws(s) URL would make every signed request fail; refused at start instead. Empty is unset (the
// config file's commented default), as before.
std::string check_public_url(const std::string& url) {
  if (url.empty()) return {};
  const auto scheme = url.substr(0, url.find("://"));
  if (!twilio::is_signable_url(url) || !twilio::is_web_scheme(scheme)) {
    return "expected an absolute URL such as wss://proxy.example.com (scheme https, wss, http or ws in lowercase, "
           "then a host)";
  }
  return {};
}

std::string bool_text(bool value) { return value ? "true" : "false"; }

// Seconds on the command line, milliseconds inside; the default is what `target` holds. NaN and
// infinities are refused (finite_range.h): a NaN deadline or window switched its protection off.
CLI::Option* add_seconds(CLI::App* app, const std::string& name, std::chrono::milliseconds& target,
                         const std::string& help, double max = 86400.0, double min = 0.0) {
  return app
      ->add_option_function<double>(
          name,
          [&target](double seconds) { target = std::chrono::milliseconds(static_cast<long long>(seconds * 1000)); },
          help)
      ->default_str(seconds_text(target))
      ->check(finite_range(min, max));
}

}  // namespace

std::optional<std::string> node_cache_store() {
  // Read once at start-up, before any thread exists.
  const char* enabled = std::getenv("REMOTE_CACHE_ENABLED");  // NOLINT(concurrency-mt-unsafe)
  const char* host = std::getenv("REDIS_HOST");               // NOLINT(concurrency-mt-unsafe)
  if (!enabled || !host || !*host) return std::nullopt;
  const std::string on(enabled);
  if (on != "true" && on != "1" && on != "yes") return std::nullopt;
  // A host, host:port or a redis[s]:// URL.
  std::string where(host);
  if (where.rfind("redis://", 0) == 0 || where.rfind("rediss://", 0) == 0) return where;
  if (where.find(':') == std::string::npos) where += ":6379";
  return "redis://" + where;
}

RunFunction setup_serve(CLI::App& parent) {
  auto flags = std::make_shared<ServeFlags>();
  auto& options = flags->options;
  auto* app = parent.add_subcommand("serve", "Run the proxy: Twilio streams on /media, the HTTP API");
  app->footer(
      "Every flag can also be set in a TOML file: callproxy serve --config FILE, the flag's name without its -- as "
      "the key (callproxy serve --print-config writes one with every setting). A flag wins over its environment "
      "variable, which wins over the file.");
  app->add_flag("--print-config", flags->print_config,
                "Print a TOML config file documenting every setting with its default, and exit")
      ->configurable(false);  // an action, not a setting

  app->add_option("--port,-p", options.http.port, "TCP port to listen on (0 picks a free one)")
      ->envname("AUDIO_PROXY_PORT")
      ->capture_default_str();
  app->add_option("--bind", options.http.bind, "Address to listen on")
      ->envname("CALLPROXY_BIND")
      ->capture_default_str();
  app->add_option("--threads", options.threads, "Event loops (0 = one per core)")
      ->envname("CALLPROXY_THREADS")
      ->check(CLI::Range(0u, 256u))
      ->capture_default_str();
  add_seconds(app, "--drain-timeout", options.drain_timeout, "Seconds live calls may run on after SIGTERM/SIGINT")
      ->envname("CALLPROXY_DRAIN_TIMEOUT");

  // Backends.
  app->add_option("--backend", options.media.default_backends,
                  "Backend for calls whose start names none: host:port or a ws:// / wss:// URL (repeatable)")
      ->envname("CALLPROXY_BACKEND")
      ->delimiter(',')
      ->check(check_backend_entry);
  app->add_option("--backend-allow", flags->allow,
                  "Only allow backends matching HOST:PORT (10.0.0.0/8:8900, *.internal:*, host:443; repeatable)")
      ->envname("CALLPROXY_BACKEND_ALLOW")
      ->delimiter(',')
      ->check([](const std::string& pattern) {
        try {
          proxy::BackendAllowlist probe;
          probe.add(pattern);
          return std::string();
        } catch (const std::invalid_argument& e) {
          return std::string(e.what());
        }
      });
  app->add_option("--backend-format", flags->backend_format, "What backends receive: simple or twilio (passthrough)")
      ->envname("CALLPROXY_BACKEND_FORMAT")
      ->check(CLI::IsMember({"simple", "twilio"}))
      ->capture_default_str();
  app->add_option("--replies", flags->replies, "Relay the primary (first) backend's audio to the caller, or none")
      ->envname("CALLPROXY_REPLIES")
      ->check(CLI::IsMember({"first", "none"}))
      ->capture_default_str();
  app->add_option("--stream-mode", flags->stream_mode,
                  "Streams whose start does not say (customParameters.streamMode): connect (<Connect><Stream>, "
                  "replies go to the caller) or fork (<Start><Stream>, one-way: replies are dropped and counted)")
      ->envname("CALLPROXY_STREAM_MODE")
      ->check(CLI::IsMember({"connect", "fork"}))
      ->capture_default_str();
  app->add_flag("--backend-reconnect,!--no-backend-reconnect", options.media.backend_reconnect,
                "Reconnect a dropped backend with backoff")
      ->default_str(bool_text(options.media.backend_reconnect))
      ->envname("CALLPROXY_BACKEND_RECONNECT");
  add_seconds(app, "--backend-reconnect-window", options.media.backend_reconnect_window,
              "Seconds to keep trying to reconnect a dropped backend")
      ->envname("CALLPROXY_BACKEND_RECONNECT_WINDOW");
  add_seconds(app, "--max-backend-lag", options.media.max_backend_lag,
              "Seconds of audio a backend may fall behind before it is disconnected", 600.0)
      ->envname("CALLPROXY_MAX_BACKEND_LAG");
  app->add_option("--max-backend-queue-bytes", options.media.max_backend_queue_bytes,
                  "Bytes of messages (of any kind) that may wait behind a backend before it is disconnected")
      ->envname("CALLPROXY_MAX_BACKEND_QUEUE_BYTES")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))
      ->capture_default_str();
  // Replies from a call's primary backend waiting to go to Twilio: past either bound a reply is
  // dropped and counted (frames_dropped{reason="twilio_lag"}), the call goes on.
  app->add_option("--max-reply-queue", options.media.max_reply_queue,
                  "Replies from the primary backend that may wait to go to the caller; more are dropped and counted")
      ->envname("CALLPROXY_MAX_REPLY_QUEUE")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  app->add_option("--max-reply-queue-bytes", options.media.max_reply_queue_bytes,
                  "Bytes of replies from the primary backend that may wait to go to the caller; more are dropped "
                  "and counted")
      ->envname("CALLPROXY_MAX_REPLY_QUEUE_BYTES")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))
      ->capture_default_str();
  add_seconds(app, "--backend-connect-timeout", options.media.backend_connect_timeout,
              "Seconds to connect to a backend", 600.0)
      ->envname("CALLPROXY_BACKEND_CONNECT_TIMEOUT");
  app->add_option("--max-backends-per-call", options.media.max_backends_per_call,
                  "Backends one call may name; a start naming more is refused (close 1008)")
      ->envname("CALLPROXY_MAX_BACKENDS_PER_CALL")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000}))
      ->capture_default_str();
  add_seconds(app, "--start-timeout", options.media.start_timeout,
              "Seconds a stream may stay open without a 'start' message (then close 1008)", 600.0, 0.1)
      ->envname("CALLPROXY_START_TIMEOUT");
  add_seconds(app, "--stream-idle-timeout", options.media.stream_idle_timeout,
              "Seconds a stream from Twilio may send nothing (pinged at half of it) before it is dropped", 3600.0, 0.2)
      ->envname("CALLPROXY_STREAM_IDLE_TIMEOUT");
  app->add_option("--backend-ca", options.media.backend_ca, "Extra CA certificate file for wss:// backends")
      ->envname("CALLPROXY_BACKEND_CA")
      ->check(CLI::ExistingFile);

  // Who may stream to us.
  app->add_flag("--validate-signatures", options.signatures.validate,
                "Refuse /media handshakes without a valid X-Twilio-Signature")
      ->default_str(bool_text(options.signatures.validate))
      ->envname("VALIDATE_EXTERNAL_CALLS");
  app->add_option("--auth-token", options.signatures.auth_token, "Twilio auth token (for signatures)")
      ->envname("TWILIO_AUTH_TOKEN");
  app->add_option("--tls-cert", options.http.tls_cert, "Serve https:// and wss:// with this certificate chain (PEM)")
      ->envname("CALLPROXY_TLS_CERT")
      ->check(CLI::ExistingFile);
  app->add_option("--tls-key", options.http.tls_key, "The certificate's private key (PEM)")
      ->envname("CALLPROXY_TLS_KEY")
      ->check(CLI::ExistingFile);
  app->add_flag("--insecure-open-relay", options.insecure_open_relay,
                "Listen beyond loopback without signatures and without --backend-allow, without the warning")
      ->envname("CALLPROXY_INSECURE_OPEN_RELAY");
  app->add_option("--public-url", options.signatures.public_url,
                  "The base URL Twilio uses to reach us (e.g. wss://proxy.example.com), when behind a proxy")
      ->envname("CALLPROXY_PUBLIC_URL")
      ->check(check_public_url);

  // Callers.
  app->add_option("--pins-file", options.callers.pins_file, "JSON list of PINs and their backends (reloaded on SIGHUP)")
      ->envname("CALLPROXY_PINS_FILE")
      ->check(CLI::ExistingFile);
  app->add_option("--pin-api", options.callers.pin_api,
                  "Identity API asked for PINs the pins file does not know (POST <URL>/identity-api/pin)")
      ->envname("SERVER_API_HOST");
  app->add_option_function<long long>(
         "--pin-api-timeout-ms",
         [&options](long long ms) { options.callers.pin_api_timeout = std::chrono::milliseconds(ms); },
         "Milliseconds the identity API has to answer")
      ->default_str(std::to_string(options.callers.pin_api_timeout.count()))
      ->envname("SERVER_API_TIMEOUT_MS")
      ->check(CLI::Range(1LL, 600000LL));
  app->add_option("--api-key", options.callers.api_key, "Key the admin routes require in the apiKey header")
      ->envname("SERVER_API_KEY");
  app->add_flag("--debug-routes", options.callers.debug_routes,
                "Enable the debug routes (POST /blocked-callers/:id, /auth-attempts/:id)")
      ->default_str(bool_text(options.callers.debug_routes))
      ->envname("ENABLE_DEBUG_ROUTES");
  app->add_option("--attempts-allowed", options.callers.attempts.allowed,
                  "Failed PINs allowed; one more blocks the caller")
      ->envname("INVALID_AUTH_ATTEMPTS_ALLOWED")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  app->add_option_function<long long>(
         "--attempts-ttl", [&options](long long s) { options.callers.attempts.ttl = std::chrono::seconds(s); },
         "Seconds failed attempts are remembered after the last one")
      ->default_str(std::to_string(options.callers.attempts.ttl.count()))
      ->envname("INVALID_AUTH_ATTEMPTS_CACHE_TTL_SECONDS")
      ->check(CLI::Range(1LL, 10LL * 365 * 86400));

  // The built-in call flow (POST /twiml/voice and /twiml/pin).
  auto& twiml = options.callers.twiml;
  const auto prompt = [app](const std::string& name, std::string& target, const std::string& help,
                            const std::string& env) {
    app->add_option(name, target, "TwiML flow: " + help)->envname(env)->capture_default_str();
  };
  prompt("--twiml-welcome", twiml.welcome, "what a caller hears before entering the PIN", "CALLPROXY_TWIML_WELCOME");
  prompt("--twiml-wrong-pin", twiml.wrong_pin, "what a caller hears after a wrong PIN", "CALLPROXY_TWIML_WRONG_PIN");
  prompt("--twiml-goodbye", twiml.goodbye,
         "what a caller hears before the flow hangs up (blocked, withheld, no PIN entered, out of tries)",
         "CALLPROXY_TWIML_GOODBYE");
  prompt("--twiml-connecting", twiml.connecting, "what a caller hears after the right PIN, before the stream",
         "CALLPROXY_TWIML_CONNECTING");
  prompt("--twiml-try-later", twiml.try_later,
         "what a caller hears when the PIN cannot be checked (PIN API or state store down); then it hangs up",
         "CALLPROXY_TWIML_TRY_LATER");
  prompt("--twiml-voice", twiml.voice, "<Say voice> (alice, Polly.Joanna, ...; empty: Twilio's default)",
         "CALLPROXY_TWIML_VOICE");
  prompt("--twiml-language", twiml.language, "<Say language> (empty: Twilio's default)", "CALLPROXY_TWIML_LANGUAGE");
  app->add_option("--twiml-pin-digits", twiml.pin_digits,
                  "TwiML flow: digits of a PIN (<Gather numDigits>); 0: the caller ends it with #")
      ->envname("CALLPROXY_TWIML_PIN_DIGITS")
      ->check(CLI::Range(0u, static_cast<unsigned>(proxy::max_pin_bytes)))
      ->capture_default_str();
  app->add_option("--twiml-gather-timeout", twiml.gather_timeout,
                  "TwiML flow: seconds of silence while the PIN is entered before the goodbye (<Gather timeout>)")
      ->envname("CALLPROXY_TWIML_GATHER_TIMEOUT")
      ->check(CLI::Range(1u, 600u))
      ->capture_default_str();
  app->add_option("--twiml-max-tries", twiml.max_tries,
                  "TwiML flow: wrong PINs one call may enter; after the last, goodbye (each one also counts "
                  "towards --attempts-allowed)")
      ->envname("CALLPROXY_TWIML_MAX_TRIES")
      ->check(CLI::Range(1u, 100u))
      ->capture_default_str();
  app->add_option("--twiml-backend", twiml.backends,
                  "TwiML flow: the backendHosts a stream carries when the PIN names no backend (repeatable; "
                  "none: the stream names none and --backend applies)")
      ->envname("CALLPROXY_TWIML_BACKEND")
      ->delimiter(',')
      ->check(check_backend_entry);
  app->add_option("--stream-token-secret", options.media.stream_token_secret,
                  "Secret for per-call stream tokens (at least 16 characters; never logged): when set, every stream "
                  "must carry a valid token, which the TwiML flow mints")
      ->envname("CALLPROXY_STREAM_TOKEN_SECRET");
  app->add_option_function<long long>(
         "--stream-token-ttl", [&options](long long s) { options.media.stream_token_ttl = std::chrono::seconds(s); },
         "Seconds a stream token minted by the TwiML flow stays valid (the stream must start within it)")
      ->default_str(std::to_string(options.media.stream_token_ttl.count()))
      ->envname("CALLPROXY_STREAM_TOKEN_TTL")
      ->check(CLI::Range(1LL, 86400LL));

  // Failed-PIN budgets that rotating caller IDs cannot get around (in memory, per process).
  auto& budget = options.callers.pin_budget;
  app->add_option("--pin-failures-global", budget.global,
                  "Failed PIN checks allowed per window across all callers; then every check is refused (0 = no limit)")
      ->envname("CALLPROXY_PIN_FAILURES_GLOBAL")
      ->check(CLI::Range(0u, 1000000u))
      ->capture_default_str();
  app->add_option("--pin-failures-per-source", budget.per_source,
                  "Failed PIN checks allowed per window from one address (IPv6: one /64); "
                  "not applied with --validate-signatures (0 = no limit)")
      ->envname("CALLPROXY_PIN_FAILURES_PER_SOURCE")
      ->check(CLI::Range(0u, 1000000u))
      ->capture_default_str();
  add_seconds(app, "--pin-failure-window", budget.window, "Seconds over which failed PIN checks are counted", 86400.0,
              1.0)
      ->envname("CALLPROXY_PIN_FAILURE_WINDOW");
  app->add_option("--pin-failure-sources", budget.max_sources, "Source addresses whose failures are tracked at once")
      ->envname("CALLPROXY_PIN_FAILURE_SOURCES")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}))
      ->capture_default_str();

  // State and limits.
  app->add_option("--store", options.store,
                  "State store: sqlite:PATH (default), redis[s]://[USER:PASSWORD@]HOST[:PORT][/DB] (or "
                  "REMOTE_CACHE_ENABLED + REDIS_HOST), memory")
      ->envname("CALLPROXY_STORE")
      ->check([](const std::string& text) {
        auto spec = proxy::parse_store_spec(text);
        return spec ? std::string() : spec.error();
      })
      ->capture_default_str();
  app->add_option("--store-max-queue", options.store_limits.max_queued,
                  "Store operations that may wait at once (SQLite: queued for the file; Redis: awaiting replies); "
                  "beyond it the routes that need the store answer 503 at once")
      ->envname("CALLPROXY_STORE_MAX_QUEUE")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  app->add_option("--redis-keys", flags->redis_keys,
                  "Redis keys: node (the Node service's, shared with its instances) or callproxy")
      ->envname("CALLPROXY_REDIS_KEYS")
      ->check(CLI::IsMember({"node", "callproxy"}))
      ->capture_default_str();
  app->add_option("--redis-password", options.redis_password,
                  "Redis password (AUTH) when the redis URL carries none (never logged)")
      ->envname("REDIS_PASSWORD");
  app->add_option("--redis-ca", options.redis_ca, "Extra CA certificate file for a rediss:// store")
      ->envname("CALLPROXY_REDIS_CA")
      ->check(CLI::ExistingFile);
  app->add_option("--max-message-bytes", options.media.max_message_bytes, "Largest WebSocket message accepted")
      ->envname("CALLPROXY_MAX_MESSAGE_BYTES")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{16} << 20))
      ->capture_default_str();
  app->add_option("--max-control-frames", options.media.max_control_frames,
                  "Pings and pongs a peer (Twilio's side or a backend) may send per second, as many at once; "
                  "past it the stream is closed (1008)")
      ->envname("CALLPROXY_MAX_CONTROL_FRAMES")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  app->add_option("--max-message-fragments", options.media.max_message_fragments,
                  "Frames one fragmented WebSocket message may come in; past it the stream is closed (1009)")
      ->envname("CALLPROXY_MAX_MESSAGE_FRAGMENTS")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000'000}))
      ->capture_default_str();
  app->add_option("--max-frame-bytes", options.media.max_frame_bytes,
                  "Largest media payload accepted, in decoded bytes (Twilio sends 160); larger frames are dropped")
      ->envname("CALLPROXY_MAX_FRAME_BYTES")
      ->check(CLI::Range(std::size_t{1}, std::size_t{12} << 20))
      ->capture_default_str();
  app->add_option("--max-body-bytes", options.http.max_body_bytes, "Largest HTTP request body accepted")
      ->envname("CALLPROXY_MAX_BODY_BYTES")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20))
      ->capture_default_str();
  add_seconds(app, "--header-timeout", options.http.header_timeout,
              "Seconds a request's header may take from its first byte (a new connection: from accept)", 600.0, 0.1)
      ->envname("CALLPROXY_HEADER_TIMEOUT");
  add_seconds(app, "--request-timeout", options.http.request_timeout,
              "Seconds a request's body and handler may take together; then it is answered 503", 600.0, 0.1)
      ->envname("CALLPROXY_REQUEST_TIMEOUT");
  app->add_option("--max-connections", options.http.max_connections,
                  "Connections at once, calls included; past it 503 (a few more are kept for /healthz and /readyz). "
                  "Default: what the file descriptor limit allows")
      ->envname("CALLPROXY_MAX_CONNECTIONS")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}));
  app->add_option("--max-connections-per-source", options.http.max_connections_per_source,
                  "Connections at once from one address (IPv6: one /64), calls included; past it 503. 0 = no cap "
                  "(keep it 0 behind a balancer or proxy, where every connection comes from its address, and above "
                  "your busiest calls: Twilio's calls come from a few Twilio addresses)")
      ->envname("CALLPROXY_MAX_CONNECTIONS_PER_SOURCE")
      ->check(CLI::Range(std::size_t{0}, std::size_t{100'000'000}))
      ->capture_default_str();
  app->add_option("--max-calls", options.http.max_calls,
                  "Media streams at once; past it a new one is refused 503 before the upgrade. Default: what the "
                  "file descriptor limit allows")
      ->envname("CALLPROXY_MAX_CALLS")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}));
  return [flags, app] { return run_serve(*flags, *app); };
}

}  // namespace callproxy::cli
