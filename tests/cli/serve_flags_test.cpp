// serve's flags as the rooms declare them (cli/serve_flags.h), parsed in this process: one way to
// write a duration, the deprecated millisecond flag against the Node service's variable, and
// booleans read as the Node service read them.
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>

#include <cstdlib>

#include "cli/boolean.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/serve_flags.h"

using namespace callproxy;
using namespace std::chrono_literals;

namespace {

// serve's flags on an app of their own, parsed from `args` (no environment unless the test sets it).
struct ParsedServe {
  explicit ParsedServe(std::vector<std::string> args) {
    cli::add_listening_flags(app, flags.options);
    cli::add_backend_flags(app, flags.options.media, flags.allow);
    cli::add_stream_flags(app, flags.options.media);
    cli::add_access_flags(app, flags.options);
    cli::add_callers_flags(app, flags.options.callers);
    cli::add_call_flow_flags(app, flags.options.callers.twiml);
    cli::add_store_flags(app, flags.options);
    cli::add_http_limit_flags(app, flags.options.http);
    cli::add_deprecated_flags(app, flags);
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    app.parse(args);
    cli::resolve_pin_api_timeout(flags, app);
  }
  CLI::App app;
  cli::ServeFlags flags;
};

// Sets an environment variable for the test's life (each test case runs in its own process).
struct ScopedEnv {
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

}  // namespace

TEST_CASE("a duration is seconds or a number with a unit, rounded to the millisecond", "[cli][duration]") {
  const cli::DurationRange any{0, 86400};
  const std::vector<std::pair<std::string, std::chrono::milliseconds>> good{
      {"30", 30s}, {"0.5", 500ms},  {"1.5", 1500ms}, {"250ms", 250ms}, {"5s", 5s},    {"2m", 120s},     {"1h", 3600s},
      {"0", 0ms},  {"0.0004", 0ms}, {"0.0006", 1ms}, {"1.5m", 90s},    {"1e3ms", 1s}, {"86400", 86400s}};
  for (const auto& [text, expected] : good) {
    INFO(text);
    const auto parsed = cli::parse_duration(text, any);
    REQUIRE(parsed.ok());
    CHECK(parsed.value() == expected);
  }
  for (const std::string text :
       {"", "ms", "s", "5 s", "5sec", "5x", "5ms5", "five", "5.ms", "--5", "1,5", "nanms", "infs"}) {
    INFO(text);
    const auto parsed = cli::parse_duration(text, any);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().find("is not a duration") != std::string::npos);
    CHECK(parsed.error().find("250ms") != std::string::npos);  // says how to write one
  }
  for (const std::string text : {"nan", "NaN", "inf", "-inf", "infinity", "1e999"}) {
    INFO(text);
    const auto parsed = cli::parse_duration(text, any);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error() == "Value " + text + " is not a finite number: expected 0 to 86400 seconds");
  }
}

TEST_CASE("a duration's range holds whatever its unit, edges included", "[cli][duration]") {
  const cli::DurationRange range{0.1, 600};
  CHECK(cli::parse_duration("100ms", range).ok());
  CHECK(cli::parse_duration("0.1", range).ok());
  CHECK(cli::parse_duration("10m", range).ok());
  CHECK(cli::parse_duration("600s", range).ok());
  for (const std::string text : {"99ms", "0.09", "601", "10.1m", "1h", "-1", "-0.5s"}) {
    INFO(text);
    const auto parsed = cli::parse_duration(text, range);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error() == "Value " + text + " not in range 0.1 to 600 seconds");
  }
  const cli::DurationRange whole{1, 86400, true};
  CHECK(cli::parse_duration("2m", whole).value() == 120s);
  CHECK(cli::parse_duration("3000ms", whole).value() == 3s);
  for (const std::string text : {"1.5", "2500ms", "1.01m"}) {
    INFO(text);
    const auto parsed = cli::parse_duration(text, whole);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error() == "Value " + text + " is not a whole number of seconds");
  }
  CHECK(cli::duration_text(30s) == "30");
  CHECK(cli::duration_text(500ms) == "0.5");
  CHECK(cli::duration_text(25ms) == "0.025");
  CHECK(cli::duration_text(1500ms) == "1.5");
}

TEST_CASE("every serve duration takes a unit and lands in its setting", "[cli][duration]") {
  ParsedServe serve({"--drain-timeout",
                     "2m",
                     "--start-timeout",
                     "250ms",
                     "--stream-idle-timeout",
                     "1.5",
                     "--backend-reconnect-window",
                     "30s",
                     "--backend-connect-timeout",
                     "1500ms",
                     "--max-backend-lag",
                     "0.5",
                     "--stream-token-ttl",
                     "2m",
                     "--attempts-ttl",
                     "1h",
                     "--pin-failure-window",
                     "5m",
                     "--pin-api-timeout",
                     "2500ms",
                     "--twiml-gather-timeout",
                     "30s",
                     "--header-timeout",
                     "3s",
                     "--request-timeout",
                     "750ms"});
  const auto& o = serve.flags.options;
  CHECK(o.drain_timeout == 120s);
  CHECK(o.media.start_timeout == 250ms);
  CHECK(o.media.stream_idle_timeout == 1500ms);
  CHECK(o.media.backend_reconnect_window == 30s);
  CHECK(o.media.backend_connect_timeout == 1500ms);
  CHECK(o.media.max_backend_lag == 500ms);
  CHECK(o.media.stream_token_ttl == 120s);
  CHECK(o.callers.attempts.ttl == 3600s);
  CHECK(o.callers.pin_budget.window == 300s);
  CHECK(o.callers.pin_api_timeout == 2500ms);
  CHECK(o.callers.twiml.gather_timeout == 30u);
  CHECK(o.http.header_timeout == 3s);
  CHECK(o.http.request_timeout == 750ms);

  // Every duration setting is one: typed DURATION, so --help, the template and the reference say so.
  std::size_t durations = 0;
  for (const auto* option : serve.app.get_options()) {
    if (option->get_type_name().rfind("DURATION", 0) == 0) ++durations;
  }
  CHECK(durations == 13);
  // Whole-second settings refuse what they cannot hold, naming the flag.
  CHECK_THROWS_WITH(ParsedServe({"--stream-token-ttl", "1500ms"}),
                    Catch::Contains("Value 1500ms is not a whole number of seconds"));
  CHECK_THROWS_WITH(ParsedServe({"--twiml-gather-timeout", "2.5"}),
                    Catch::Contains("Value 2.5 is not a whole number of seconds"));
}

TEST_CASE("the identity API's timeout: --pin-api-timeout wins over the old millisecond names", "[cli][duration]") {
  CHECK(ParsedServe({}).flags.options.callers.pin_api_timeout == 10s);  // the default
  CHECK(ParsedServe({"--pin-api-timeout-ms", "300"}).flags.options.callers.pin_api_timeout == 300ms);
  CHECK(ParsedServe({"--pin-api-timeout", "2", "--pin-api-timeout-ms", "300"}).flags.options.callers.pin_api_timeout ==
        2s);
  {
    ScopedEnv node("SERVER_API_TIMEOUT_MS", "1200");
    CHECK(ParsedServe({}).flags.options.callers.pin_api_timeout == 1200ms);
    CHECK(ParsedServe({"--pin-api-timeout", "0.3"}).flags.options.callers.pin_api_timeout == 300ms);
  }
  {
    ScopedEnv ours("CALLPROXY_PIN_API_TIMEOUT", "4s");
    CHECK(ParsedServe({}).flags.options.callers.pin_api_timeout == 4s);
  }
  CHECK_THROWS_WITH(ParsedServe({"--pin-api-timeout-ms", "0"}), Catch::Contains("Value 0 not in range 1 to 600000"));
}

TEST_CASE("booleans read as the Node service read them: true/t/yes/y/on/1 and false/f/no/n/off/0, any case",
          "[cli][boolean]") {
  for (const auto* text : {"true", "t", "yes", "y", "on", "1", "TRUE", "T", "Yes", "Y", "On", "oN"}) {
    INFO(text);
    CHECK(cli::parse_boolean(text) == std::optional<bool>(true));
  }
  for (const auto* text : {"false", "f", "no", "n", "off", "0", "FALSE", "F", "No", "N", "OFF"}) {
    INFO(text);
    CHECK(cli::parse_boolean(text) == std::optional<bool>(false));
  }
  for (const auto* text : {"", "maybe", "enable", "disable", "2", "-1", "+", "-", "yes ", " on", "tru", "10"}) {
    INFO(text);
    CHECK_FALSE(cli::parse_boolean(text).has_value());
  }
}

TEST_CASE("every boolean variable serve reads takes the Node service's words and refuses others, naming itself",
          "[cli][boolean]") {
  const auto debug_routes = [] { return ParsedServe({}).flags.options.callers.debug_routes; };
  const auto validate = [] { return ParsedServe({}).flags.options.signatures.validate; };
  {
    ScopedEnv on("ENABLE_DEBUG_ROUTES", "On");
    CHECK(debug_routes());
  }
  {
    ScopedEnv off("ENABLE_DEBUG_ROUTES", "F");
    CHECK_FALSE(debug_routes());
  }
  {
    ScopedEnv yes("VALIDATE_EXTERNAL_CALLS", "Y");
    CHECK(validate());
  }
  {
    ScopedEnv no("CALLPROXY_BACKEND_RECONNECT", "OFF");
    CHECK_FALSE(ParsedServe({}).flags.options.media.backend_reconnect);
  }
  // CLI11 alone took `enable` and any integer for true, and `maybe` was refused without naming
  // the variable: each is an error that says which variable and what it takes.
  for (const auto& [variable, value] : std::vector<std::pair<const char*, const char*>>{
           {"ENABLE_DEBUG_ROUTES", "enable"},
           {"ENABLE_DEBUG_ROUTES", "maybe"},
           {"VALIDATE_EXTERNAL_CALLS", "2"},
           {"CALLPROXY_INSECURE_OPEN_RELAY", "disable"},
           {"CALLPROXY_BACKEND_RECONNECT", "sometimes"},
       }) {
    INFO(variable << "=" << value);
    ScopedEnv set(variable, value);
    CHECK_THROWS_WITH(ParsedServe({}), Catch::Contains(std::string(variable) + " takes true, t, yes") &&
                                           Catch::Contains(std::string("Value ") + value + " is not true or false"));
  }
  // The flags themselves: given alone, negated, or with a value the same words read.
  CHECK(ParsedServe({"--debug-routes"}).flags.options.callers.debug_routes);
  CHECK(ParsedServe({"--debug-routes=on"}).flags.options.callers.debug_routes);
  CHECK_FALSE(ParsedServe({"--debug-routes=No"}).flags.options.callers.debug_routes);
  CHECK_FALSE(ParsedServe({"--no-backend-reconnect"}).flags.options.media.backend_reconnect);
  CHECK(ParsedServe({}).flags.options.media.backend_reconnect);  // the default
  CHECK_THROWS_WITH(ParsedServe({"--debug-routes=enable"}), Catch::Contains("ENABLE_DEBUG_ROUTES takes"));
}

TEST_CASE("REMOTE_CACHE_ENABLED takes the Node service's booleans, and a word it did not is an error",
          "[cli][boolean]") {
  ScopedEnv host("REDIS_HOST", "cache.internal");
  for (const auto* on : {"true", "t", "TRUE", "on", "Y", "1"}) {
    INFO(on);
    ScopedEnv enabled("REMOTE_CACHE_ENABLED", on);
    const auto cache = cli::node_cache();
    REQUIRE(cache.ok());
    CHECK(cache.value().enabled);
    CHECK(cache.value().store == std::optional<std::string>("redis://cache.internal:6379"));
  }
  for (const auto* off : {"false", "f", "No", "off", "0"}) {
    INFO(off);
    ScopedEnv enabled("REMOTE_CACHE_ENABLED", off);
    const auto cache = cli::node_cache();
    REQUIRE(cache.ok());
    CHECK_FALSE(cache.value().enabled);
    CHECK_FALSE(cache.value().store.has_value());
  }
  {
    ScopedEnv enabled("REMOTE_CACHE_ENABLED", "enabled");
    const auto cache = cli::node_cache();
    REQUIRE_FALSE(cache.ok());
    CHECK_THAT(cache.error(), Catch::Contains("REMOTE_CACHE_ENABLED=enabled is not true or false"));
  }
  {
    // Enabled without a host: enabled, and no store (serve refuses to start on it).
    ScopedEnv enabled("REMOTE_CACHE_ENABLED", "yes");
    ScopedEnv empty("REDIS_HOST", "");
    const auto cache = cli::node_cache();
    REQUIRE(cache.ok());
    CHECK(cache.value().enabled);
    CHECK_FALSE(cache.value().store.has_value());
  }
}
