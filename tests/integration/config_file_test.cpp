// serve's settings from a TOML file (--config): precedence (flag, environment, file, default),
// every key checked with its name in the error, assets/callproxy.toml kept in sync with the flags,
// and the package's config file.
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "cli/commands.h"
#include "support/child_process.h"
#include "support/http_client.h"
#include "support/redis_server.h"
#include "support/test_secrets.h"
#include "support/ws_peer.h"
#include "test_data.h"

using namespace callproxy;
using namespace std::chrono_literals;

namespace {

// A config file under /tmp, removed when the test ends.
struct ConfigFile {
  explicit ConfigFile(const std::string& text, const std::string& name = "callproxy.toml")
      : path(test::temp_path(name)) {
    std::ofstream(path) << text;
  }
  ~ConfigFile() { std::remove(path.c_str()); }
  ConfigFile(const ConfigFile&) = delete;
  ConfigFile& operator=(const ConfigFile&) = delete;
  std::string path;
};

// The body limit a running serve applies, as its 413 answer states it.
std::size_t body_limit(unsigned short port) {
  const auto reply = test::http_request(port, "POST", "/validate-pin", {}, std::string(70'000, 'x'));
  std::smatch match;
  REQUIRE(reply.status == 413);
  REQUIRE(std::regex_search(reply.body, match, std::regex(R"(exceeds (\d+) bytes)")));
  return std::stoul(match[1]);
}

bool debug_routes_on(unsigned short port) {
  return test::http_request(port, "POST", "/auth-attempts/+15550001111").status == 201;
}

// serve given `args` after its name; exits at once (a usage error) or is stopped.
test::CommandResult serve_refusing(std::vector<std::string> args, test::EnvChanges env = {}) {
  args.insert(args.begin(), {"serve", "--bind", "127.0.0.1", "--port", "0", "--store", "memory"});
  return test::run_command(test::callproxy_args(args), std::move(env));
}

// The template with every setting that has a value uncommented.
std::string uncommented(const std::string& text) {
  std::istringstream lines(text);
  std::string out;
  for (std::string line; std::getline(lines, line);) {
    const bool setting = line.size() > 1 && line[0] == '#' && std::islower(static_cast<unsigned char>(line[1]));
    if (setting && line.find(" = \"\"") == std::string::npos) line.erase(0, 1);
    out += line + "\n";
  }
  return out;
}

const std::string assets_template = std::string(CALLPROXY_ASSETS) + "/callproxy.toml";

}  // namespace

TEST_CASE("serve settings: a flag wins over the environment, which wins over the config file, over the default",
          "[cli][config]") {
  const ConfigFile file("max-body-bytes = 100\ndebug-routes = true\n");
  const test::EnvChanges unset{{"CALLPROXY_MAX_BODY_BYTES", std::nullopt}, {"ENABLE_DEBUG_ROUTES", std::nullopt}};
  const test::EnvChanges env{{"CALLPROXY_MAX_BODY_BYTES", "200"}, {"ENABLE_DEBUG_ROUTES", "false"}};

  SECTION("flag over environment over file") {
    auto serve = test::start_serve({"--config", file.path, "--max-body-bytes", "300", "--debug-routes"}, env);
    CHECK(body_limit(serve.port) == 300);
    CHECK(debug_routes_on(serve.port));
  }
  SECTION("environment over file") {
    auto serve = test::start_serve({"--config", file.path}, env);
    CHECK(body_limit(serve.port) == 200);
    CHECK_FALSE(debug_routes_on(serve.port));
  }
  SECTION("file over default") {
    auto serve = test::start_serve({"--config", file.path}, unset);
    CHECK(body_limit(serve.port) == 100);
    CHECK(debug_routes_on(serve.port));
  }
  SECTION("default") {
    auto serve = test::start_serve({}, unset);
    CHECK(body_limit(serve.port) == 65536);
    CHECK_FALSE(debug_routes_on(serve.port));
  }
}

TEST_CASE("serve runs from a config file alone", "[cli][config]") {
  test::BackendServer first, second;
  const ConfigFile file("# a deployment's settings\n"
                        "bind = \"127.0.0.1\"\n"
                        "port = 0   # any free port\n"
                        "store = \"memory\"\n"
                        "pins-file = \"" +
                        std::string(CALLPROXY_ASSETS) +
                        "/demo-pins.json\"\n"
                        "backend = [\"" +
                        first.host_port() + "\", \"" + second.host_port() +
                        "\"]\n"
                        "backend-reconnect = false\n"
                        "max-body-bytes = 100\n"
                        "api-key = \"se#" +
                        test::secrets::api_key +
                        "\"  # a '#' inside quotes is part of the value\n"
                        "log-format = \"json\"\n");
  test::ChildProcess serve(test::callproxy_args({"serve", "--config", file.path}),
                           {{"CALLPROXY_BIND", std::nullopt}, {"AUDIO_PROXY_PORT", std::nullopt}});
  const auto line = serve.wait_for_stderr("listening on 127.0.0.1:");
  const auto port = static_cast<unsigned short>(std::stoi(line.substr(line.find("127.0.0.1:") + 10)));
  CHECK(serve.err().find("PINs: 2 entries") != std::string::npos);
  CHECK(serve.err().find("state store: memory") != std::string::npos);
  CHECK(body_limit(port) == 100);
  CHECK(test::http_request(port, "GET", "/blocked-callers", {{"apiKey", "se#" + test::secrets::api_key}}).status ==
        200);
  CHECK(test::http_request(port, "GET", "/blocked-callers", {{"apiKey", "se"}}).status == 403);
  // A call naming no backend goes to both of the file's list.
  test::WsClient call(port, "/media");
  call.send_text(R"({"event":"start","sequenceNumber":"1","start":{"streamSid":"MZ1","callSid":"CA1",)"
                 R"("tracks":["inbound"],"customParameters":{}}})");
  CHECK(first.wait_for_messages(1));
  CHECK(second.wait_for_messages(1));
  // The logging flags come from the file too: every line is JSON.
  std::istringstream lines(serve.err());
  for (std::string l; std::getline(lines, l);) {
    INFO(l);
    CHECK_NOTHROW(nlohmann::json::parse(l));
  }
}

TEST_CASE("a config file with an unknown key, a bad value, a table or a key set twice is refused, naming the key",
          "[cli][config]") {
  struct Case {
    std::string text;
    std::vector<std::string> expected;  // in the one error line
  };
  const std::vector<Case> cases{
      {"prot = 8999\n", {"unknown key 'prot'", "did you mean 'port'?", "--print-config"}},
      {"max_body_bytes = 100\n", {"unknown key 'max_body_bytes'", "did you mean 'max-body-bytes'?"}},
      {"config = \"other.toml\"\n", {"unknown key 'config'"}},
      {"print-config = true\n", {"unknown key 'print-config'"}},
      {"p = 8999\n", {"unknown key 'p'"}},  // keys are long names
      {"max-body-bytes = \"lots\"\n", {"key 'max-body-bytes'", "lots"}},
      {"max-body-bytes = 0\n", {"key 'max-body-bytes'", "not in range"}},
      {"port = true\n", {"key 'port'", "true"}},
      {"port = [8999, 9000]\n", {"key 'port'", "received 2"}},
      {"validate-signatures = \"maybe\"\n", {"key 'validate-signatures'", "maybe"}},
      {"backend-format = \"xml\"\n", {"key 'backend-format'", "xml"}},
      {"backend = [\"nope:\"]\n", {"key 'backend'", "nope:"}},
      {"log-level = \"loud\"\n", {"key 'log-level'", "loud"}},
      {"port = 1\nbind = \"127.0.0.1\"\nport = 2\n", {"key 'port' is set twice"}},
      {"[serve]\nport = 1\n", {"[serve]", "top level"}},
      {"serve.port = 1\n", {"'serve.port'", "top level"}},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const ConfigFile file(c.text);
    const auto refused = serve_refusing({"--config", file.path});
    CHECK(refused.exit_code == 2);
    CHECK(refused.err.find(file.path + ": ") != std::string::npos);
    for (const auto& part : c.expected) CHECK(refused.err.find(part) != std::string::npos);
    CHECK(std::count(refused.err.begin(), refused.err.end(), '\n') == 1);
  }
}

// CLI11's Range compares, and NaN compares false both ways: `pin-failure-window = nan` passed and
// switched the failed-PIN budget off. The file's bare TOML `nan` and `inf`, and the spellings strtod
// takes quoted ("NaN", "infinity"), are refused for every floating-point key. (Bare `NaN` and
// `infinity` were taken as text before the file was read as strict TOML; they are invalid TOML now,
// refused with their line and column: `strict TOML: …` below.)
TEST_CASE("a config file's NaN or infinity for a floating-point setting is refused, naming the key", "[cli][config]") {
  CLI::App app;
  cli::setup_serve(app);
  const auto floating_point = app.get_subcommand("serve")->get_options([](const CLI::Option* option) {
    return option->get_type_name().rfind("FLOAT", 0) == 0 || option->get_type_name().rfind("DURATION", 0) == 0;
  });
  CHECK(floating_point.size() >= 9);  // the walk saw serve's durations
  for (const auto* option : floating_point) {
    const auto key = option->get_lnames().front();
    for (const std::string value : {"nan", "inf", "-inf", "+inf", "\"nan\"", "\"NaN\"", "\"infinity\""}) {
      INFO(key << " = " << value);
      const ConfigFile file(key + " = " + value + "\n");
      // An address no interface has (TEST-NET-1; nothing is sent): were the value taken, serve would
      // stop with 1 at once rather than run.
      const auto refused = test::run_command(test::callproxy_args(
          {"serve", "--bind", "192.0.2.1", "--port", "0", "--store", "memory", "--config", file.path}));
      CHECK(refused.exit_code == 2);
      CHECK(refused.err.find(file.path + ": key '" + key + "': --" + key + ": Value ") != std::string::npos);
      CHECK(refused.err.find("is not a finite number") != std::string::npos);
      CHECK(std::count(refused.err.begin(), refused.err.end(), '\n') == 1);
    }
  }
}

TEST_CASE("callproxy serve with an invalid TOML config file stops with exit 2 naming the line and column",
          "[cli][config]") {
  // What docs/configuration.md shows: an unquoted address, where text in quotes was meant.
  const ConfigFile file("# settings\nstore = \"memory\"\nbind = 127.0.0.1\n");
  const auto refused = test::run_command(test::callproxy_args({"serve", "--port", "0", "--config", file.path}),
                                         {{"CALLPROXY_BIND", std::nullopt}});
  CHECK(refused.exit_code == 2);  // a configuration error (docs/configuration.md, exit codes)
  CHECK(refused.err.find("callproxy: " + file.path + ": line 3, column 13: invalid TOML: ") == 0);
  CHECK(std::count(refused.err.begin(), refused.err.end(), '\n') == 1);
  CHECK(refused.err.find("listening") == std::string::npos);
}

TEST_CASE("a bad value in a config file is refused even where a flag or the environment overrides it",
          "[cli][config]") {
  const ConfigFile file("max-body-bytes = \"lots\"\n");
  const auto over_flag = serve_refusing({"--config", file.path, "--max-body-bytes", "100"});
  CHECK(over_flag.exit_code == 2);
  CHECK(over_flag.err.find("key 'max-body-bytes'") != std::string::npos);
  const auto over_env = serve_refusing({"--config", file.path}, {{"CALLPROXY_MAX_BODY_BYTES", "100"}});
  CHECK(over_env.exit_code == 2);
  CHECK(over_env.err.find("key 'max-body-bytes'") != std::string::npos);
}

TEST_CASE("a config file that is missing or unreadable is refused, naming it", "[cli][config]") {
  const auto missing_path = test::temp_path("missing.toml");
  const auto missing = serve_refusing({"--config", missing_path});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("config file " + missing_path) != std::string::npos);
  const auto directory = serve_refusing({"--config", "/tmp"});
  CHECK(directory.exit_code == 2);
  CHECK(directory.err.find("config file /tmp") != std::string::npos);
}

TEST_CASE("only serve takes a config file: other subcommands refuse --config", "[cli][config]") {
  const ConfigFile file("port = 9000\n");
  const auto sign = test::run_command(
      test::callproxy_args({"sign", "--config", file.path, "--url", "https://x/", "--auth-token", "t"}));
  CHECK(sign.exit_code == 2);
  CHECK(sign.err.find("--config holds serve's settings") != std::string::npos);
}

TEST_CASE("the Node service's REMOTE_CACHE_ENABLED and REDIS_HOST win over a config file's store", "[cli][config]") {
  test::RedisServer redis;
  const ConfigFile file("store = \"memory\"\n");
  test::ChildProcess serve(test::callproxy_args({"serve", "--bind", "127.0.0.1", "--port", "0", "--config", file.path}),
                           {{"REMOTE_CACHE_ENABLED", "true"},
                            {"REDIS_HOST", "127.0.0.1:" + std::to_string(redis.port())},
                            {"CALLPROXY_STORE", std::nullopt}});
  const auto line = serve.wait_for_stderr("state store:");
  CHECK(line.find("redis://127.0.0.1:" + std::to_string(redis.port())) != std::string::npos);
}

TEST_CASE("serve refuses to start with REMOTE_CACHE_ENABLED true and no REDIS_HOST, as the Node service did",
          "[cli][config]") {
  // A fleet's instances would each keep blocks in a file of their own, the package's config file
  // (store = sqlite:...) included: the file's store does not stand in for the Redis asked for.
  const ConfigFile file("store = \"sqlite:./callproxy.db\"\n");
  for (const auto& args : std::vector<std::vector<std::string>>{{}, {"--config", file.path}}) {
    INFO(args.size());
    auto argv = test::callproxy_args({"serve", "--bind", "127.0.0.1", "--port", "0"});
    argv.insert(argv.end(), args.begin(), args.end());
    const auto refused = test::run_command(
        argv, {{"REMOTE_CACHE_ENABLED", "t"}, {"REDIS_HOST", std::nullopt}, {"CALLPROXY_STORE", std::nullopt}}, {},
        10s);
    CHECK(refused.exit_code == 2);  // a configuration error (docs/configuration.md, exit codes)
    CHECK(refused.err.find("REMOTE_CACHE_ENABLED is true but REDIS_HOST is not set") != std::string::npos);
    CHECK(refused.err.find("--store (CALLPROXY_STORE)") != std::string::npos);
    CHECK(refused.err.find("listening") == std::string::npos);
  }
  // A value the Node service's parser did not know is refused too, naming the variable.
  const auto unknown = test::run_command(test::callproxy_args({"serve", "--bind", "127.0.0.1", "--port", "0"}),
                                         {{"REMOTE_CACHE_ENABLED", "enabled"}, {"REDIS_HOST", "127.0.0.1"}}, {}, 10s);
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("REMOTE_CACHE_ENABLED=enabled is not true or false") != std::string::npos);
  // --store (or CALLPROXY_STORE) says where state goes: serve starts.
  test::ChildProcess chosen(test::callproxy_args({"serve", "--bind", "127.0.0.1", "--port", "0", "--store", "memory"}),
                            {{"REMOTE_CACHE_ENABLED", "true"}, {"REDIS_HOST", std::nullopt}});
  CHECK(chosen.wait_for_stderr("state store:").find("memory") != std::string::npos);
}

TEST_CASE("assets/callproxy.toml is what `callproxy serve --print-config` prints", "[cli][config]") {
  const auto printed = test::run_command(test::callproxy_args({"serve", "--print-config"}));
  REQUIRE(printed.exit_code == 0);
  if (printed.out != test::read_file(assets_template)) {
    FAIL("assets/callproxy.toml is out of date with serve's flags; regenerate it with\n  " CALLPROXY_BIN
         " serve --print-config > " CALLPROXY_ASSETS "/callproxy.toml");
  }
  // It documents every setting: each flag's key, with its variable.
  for (const auto* key : {"#port = 8999", "#store = \"sqlite:./callproxy.db\"", "#backend = []",
                          "#backend-reconnect = true", "#drain-timeout = 30", "#log-level = \"info\""}) {
    CHECK(printed.out.find(key) != std::string::npos);
  }
  CHECK(printed.out.find("environment AUDIO_PROXY_PORT") != std::string::npos);
}

TEST_CASE("every setting of assets/callproxy.toml, uncommented, is a config file serve starts with", "[cli][config]") {
  const ConfigFile file(uncommented(test::read_file(assets_template)));
  // The file's listening address and store are overridden (flags win): loopback, nothing on disk.
  auto serve = test::start_serve({"--config", file.path});
  CHECK(body_limit(serve.port) == 65536);
}

TEST_CASE("the package's config file keeps state in the state directory, listens on loopback, checks signatures",
          "[cli][config][package]") {
  const auto text = test::read_file(CALLPROXY_PACKAGE_CONFIG);
  CHECK(text.find("\nstore = \"sqlite:/var/lib/callproxy/callproxy.db\"") != std::string::npos);
  CHECK(text.find("\nbind = \"127.0.0.1\"") != std::string::npos);
  CHECK(text.find("\nvalidate-signatures = true") != std::string::npos);
  // serve takes it as it is (the store and port overridden by flags here: nothing written to /var).
  const auto no_token = serve_refusing({"--config", CALLPROXY_PACKAGE_CONFIG}, {{"TWILIO_AUTH_TOKEN", std::nullopt}});
  CHECK(no_token.exit_code == 2);
  CHECK(no_token.err.find("token") != std::string::npos);
  test::ChildProcess serve(
      test::callproxy_args({"serve", "--config", CALLPROXY_PACKAGE_CONFIG, "--port", "0", "--store", "memory"}),
      {{"TWILIO_AUTH_TOKEN", "package-test-token"}, {"CALLPROXY_BIND", std::nullopt}});
  const auto line = serve.wait_for_stderr("listening on 127.0.0.1:");
  const auto port = static_cast<unsigned short>(std::stoi(line.substr(line.find("127.0.0.1:") + 10)));
  // Signatures are checked: an unsigned PIN check is refused.
  const auto unsigned_check = test::http_request(port, "POST", "/validate-pin", {{"Content-Type", "application/json"}},
                                                 R"({"pin":"1234","callerId":"+15551234567"})");
  CHECK(unsigned_check.status == 400);
}
