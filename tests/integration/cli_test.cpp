// The real binary's command line: help, version, usage errors and the sign subcommand.
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>

#include "cli/commands.h"
#include "support/child_process.h"
#include "test_data.h"
#include "twilio/signature.h"

using namespace callproxy;
using test::callproxy_args;
using test::run_command;

namespace {

// Keeps the developer's own token out of the tests' way.
const test::EnvChanges no_token{{"TWILIO_AUTH_TOKEN", std::nullopt}};

std::size_t line_count(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

nlohmann::json vector_named(const std::string& name) {
  const auto vectors = nlohmann::json::parse(test::read_file(test::data_path("twilio-signatures.json")));
  for (const auto& v : vectors) {
    if (v.at("name") == name) return v;
  }
  FAIL("no vector named " << name);
  return {};
}

std::vector<std::string> param_flags(const nlohmann::json& vector) {
  std::vector<std::string> flags;
  for (const auto& [key, value] : vector.at("params").items()) {
    for (const auto& v : value.is_array() ? value : nlohmann::json::array({value})) {
      flags.push_back("--param");
      flags.push_back(key + "=" + v.get<std::string>());
    }
  }
  return flags;
}

// How a subcommand is set up, and its arguments for a run that ends at once whether or not a
// value gets past its checks: an address no interface has (TEST-NET-1: nothing is sent), a
// media URL on a loopback port nobody listens on. Were a value taken, the run would end with 1,
// not run on until the test's time limit.
struct Subcommand {
  std::string name;
  callproxy::cli::RunFunction (*setup)(CLI::App&);
  std::vector<std::string> args;
};

std::string url_no_one_listens_on() { return "ws://127.0.0.1:" + std::to_string(test::free_port()) + "/media"; }

std::vector<Subcommand> subcommands_that_end_at_once() {
  return {
      {"serve", callproxy::cli::setup_serve, {"serve", "--bind", "192.0.2.1", "--port", "0", "--store", "memory"}},
      {"client-test", callproxy::cli::setup_client_test, {"client-test", "--url", url_no_one_listens_on()}},
      {"local-speaker",
       callproxy::cli::setup_local_speaker,
       {"local-speaker", "--bind", "192.0.2.1", "--port", "0", "--output", "null"}},
      {"sign", callproxy::cli::setup_sign, {"sign", "--url", "https://h/", "--auth-token", "t"}},
  };
}

// A subcommand's floating-point settings (CLI11 names their type FLOAT; cli/duration.h's, DURATION).
std::vector<const CLI::Option*> floating_point_options(const CLI::App& app) {
  return app.get_options([](const CLI::Option* option) {
    return option->get_type_name().rfind("FLOAT", 0) == 0 || option->get_type_name().rfind("DURATION", 0) == 0;
  });
}

}  // namespace

TEST_CASE("help lists the four subcommands and each has its own help", "[cli]") {
  const auto help = run_command(callproxy_args({"--help"}));
  CHECK(help.exit_code == 0);
  for (const auto* sub : {"serve", "client-test", "local-speaker", "sign"}) {
    CHECK(help.out.find(sub) != std::string::npos);
    const auto sub_help = run_command(callproxy_args({sub, "--help"}));
    INFO(sub);
    CHECK(sub_help.exit_code == 0);
    CHECK(sub_help.out.find("--help") != std::string::npos);
  }
}

TEST_CASE("the version flag prints the version", "[cli]") {
  const auto version = run_command(callproxy_args({"--version"}));
  CHECK(version.exit_code == 0);
  CHECK(version.out == std::string("callproxy ") + "0.1.0\n");
}

TEST_CASE("unknown flags and bad values exit 2 with one line naming the flag", "[cli]") {
  const auto unknown = run_command(callproxy_args({"serve", "--no-such-flag"}));
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("--no-such-flag") != std::string::npos);
  CHECK(line_count(unknown.err) == 1);

  const auto bad_port = run_command(callproxy_args({"serve", "--port", "banana"}));
  CHECK(bad_port.exit_code == 2);
  CHECK(bad_port.err.find("--port") != std::string::npos);
  CHECK(line_count(bad_port.err) == 1);

  const auto bad_format = run_command(
      callproxy_args({"sign", "--url", "https://h/", "--auth-token", "t", "--format", "xml"}));
  CHECK(bad_format.exit_code == 2);
  CHECK(bad_format.err.find("--format") != std::string::npos);

  const auto no_subcommand = run_command(callproxy_args({}));
  CHECK(no_subcommand.exit_code == 2);
  CHECK(line_count(no_subcommand.err) == 1);
}

TEST_CASE("sign prints the signature Twilio's library computes", "[cli][sign]") {
  for (const auto* name : {"voice_inbound", "repeated_key_array", "unicode_sort_utf16", "query_special_chars",
                           "special_chars_values", "empty_auth_token"}) {
    const auto vector = vector_named(name);
    auto args = std::vector<std::string>{"sign", "--url", vector.at("url"), "--auth-token", vector.at("auth_token")};
    const auto params = param_flags(vector);
    args.insert(args.end(), params.begin(), params.end());
    const auto signed_ = run_command(callproxy_args(args), no_token);
    INFO(name << ": " << signed_.err);
    CHECK(signed_.exit_code == 0);
    CHECK(signed_.out == vector.at("expected_signature").get<std::string>() + "\n");
  }
}

TEST_CASE("sign takes the token from TWILIO_AUTH_TOKEN and refuses to run without one", "[cli][sign]") {
  const auto vector = vector_named("no_params_https");
  const auto from_env = run_command(callproxy_args({"sign", "--url", vector.at("url")}),
                                    {{"TWILIO_AUTH_TOKEN", vector.at("auth_token").get<std::string>()}});
  CHECK(from_env.exit_code == 0);
  CHECK(from_env.out == vector.at("expected_signature").get<std::string>() + "\n");

  const auto without = run_command(callproxy_args({"sign", "--url", "https://h/"}), no_token);
  CHECK(without.exit_code == 2);
  CHECK(without.err.find("TWILIO_AUTH_TOKEN") != std::string::npos);
  CHECK(without.out.empty());
}

TEST_CASE("sign with a body appends bodySHA256 and signs that URL", "[cli][sign]") {
  const auto vector = vector_named("body_json_base_has_query");
  const std::string body = vector.at("body");
  const auto json_out = run_command(callproxy_args({"sign", "--url", vector.at("base_url"), "--body", body,
                                                    "--auth-token", vector.at("auth_token"), "--format", "json"}),
                                    no_token);
  REQUIRE(json_out.exit_code == 0);
  const auto parsed = nlohmann::json::parse(json_out.out);
  CHECK(parsed.at("url") == vector.at("url"));
  CHECK(parsed.at("signature") == vector.at("expected_signature"));
  CHECK(parsed.at("bodySHA256") == vector.at("body_sha256"));

  // The same body from a file.
  const std::string path = "/tmp/callproxy-sign-body-" + std::to_string(::getpid()) + ".json";
  std::ofstream(path, std::ios::binary) << body;
  const auto from_file = run_command(callproxy_args({"sign", "--url", vector.at("base_url"), "--body-file", path,
                                                     "--auth-token", vector.at("auth_token")}),
                                     no_token);
  std::remove(path.c_str());
  CHECK(from_file.exit_code == 0);
  CHECK(from_file.out == vector.at("expected_signature").get<std::string>() + "\n");
}

TEST_CASE("sign's header and curl formats carry the signature and the request", "[cli][sign]") {
  const auto header = run_command(
      callproxy_args({"sign", "--url", "https://h.example/x", "--auth-token", "tok", "--format", "header"}), no_token);
  CHECK(header.out == "X-Twilio-Signature: " + twilio::compute_signature("tok", "https://h.example/x", {}) + "\n");

  const auto form = run_command(callproxy_args({"sign", "--url", "https://h.example/x", "--auth-token", "tok",
                                                "--param", "Body=it's a=b", "--param", "To=+1555", "--format", "curl"}),
                                no_token);
  REQUIRE(form.exit_code == 0);
  const auto sig = twilio::compute_signature("tok", "https://h.example/x", {{"Body", "it's a=b"}, {"To", "+1555"}});
  CHECK(form.out.find("curl -sS -X POST 'https://h.example/x'") == 0);
  CHECK(form.out.find("-H 'X-Twilio-Signature: " + sig + "'") != std::string::npos);
  CHECK(form.out.find(R"(--data-urlencode 'Body=it'\''s a=b')") != std::string::npos);
  CHECK(form.out.find("--data-urlencode 'To=+1555'") != std::string::npos);

  const auto body = run_command(callproxy_args({"sign", "--url", "https://h.example/x", "--auth-token", "tok", "--body",
                                                R"({"pin":"1234"})", "--format", "curl"}),
                                no_token);
  REQUIRE(body.exit_code == 0);
  const auto url = twilio::url_with_body_hash("https://h.example/x", R"({"pin":"1234"})");
  CHECK(body.out.find("'" + url + "'") != std::string::npos);
  CHECK(body.out.find("-H 'Content-Type: application/json'") != std::string::npos);
  CHECK(body.out.find(R"(--data-binary '{"pin":"1234"}')") != std::string::npos);
}

TEST_CASE("sign --param splits on the first '=' and keeps repeated keys", "[cli][sign]") {
  const auto out = run_command(callproxy_args({"sign", "--url", "https://h/", "--auth-token", "t", "--param", "A=x=y",
                                               "--param", "K=2", "--param", "K=1"}),
                               no_token);
  CHECK(out.out == twilio::compute_signature("t", "https://h/", {{"A", "x=y"}, {"K", "1"}, {"K", "2"}}) + "\n");
}

TEST_CASE("sign --verify exits 0 for a valid signature and 1 for an invalid one", "[cli][sign]") {
  for (const auto* name : {"voice_inbound", "https_nondefault_port", "neg_tampered_param_value", "neg_extra_param"}) {
    const auto vector = vector_named(name);
    auto args = std::vector<std::string>{"sign",           "--verify",     vector.at("signature"), "--url",
                                         vector.at("url"), "--auth-token", vector.at("auth_token")};
    const auto params = param_flags(vector);
    args.insert(args.end(), params.begin(), params.end());
    const auto result = run_command(callproxy_args(args), no_token);
    INFO(name);
    const bool valid = vector.at("expected_valid");
    CHECK(result.exit_code == (valid ? 0 : 1));
    CHECK(result.out.rfind(valid ? "valid" : "invalid", 0) == 0);
  }
  for (const auto* name : {"body_json_unicode", "neg_body_changed", "neg_body_without_bodysha256"}) {
    const auto vector = vector_named(name);
    const auto result = run_command(
        callproxy_args({"sign", "--verify", vector.at("signature"), "--url", vector.at("url"), "--body",
                        vector.at("body"), "--auth-token", vector.at("auth_token")}),
        no_token);
    INFO(name << ": " << result.out);
    CHECK(result.exit_code == (vector.at("expected_valid").get<bool>() ? 0 : 1));
  }
  const auto changed = run_command(
      callproxy_args({"sign", "--verify", vector_named("neg_body_changed").at("signature"), "--url",
                      vector_named("neg_body_changed").at("url"), "--body", vector_named("neg_body_changed").at("body"),
                      "--auth-token", vector_named("neg_body_changed").at("auth_token")}),
      no_token);
  CHECK(changed.out == "invalid: body does not match the URL's bodySHA256\n");
}

TEST_CASE("sign refuses bad input with exit 2 and a clear message", "[cli][sign]") {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const Case cases[] = {
      {{"sign", "--auth-token", "t"}, "--url"},
      {{"sign", "--url", "https://h/", "--auth-token", "t", "--param", "novalue"}, "KEY=VALUE"},
      {{"sign", "--url", "https://h/", "--auth-token", "t", "--body", "{}", "--body-file", "/etc/hostname"}, "--body"},
      {{"sign", "--url", "https://h/", "--auth-token", "t", "--body-file", "/nonexistent/body.json"}, "cannot read"},
      {{"sign", "--url", "/relative", "--auth-token", "t"}, "not an absolute URL"},
      {{"sign", "--url", "https://h/", "--auth-token", "t", "--body", "{}", "--param", "a=b"},
       "--param cannot be combined"},
      {{"sign", "--url", "https://h/?bodySHA256=abc", "--auth-token", "t", "--body", "{}"}, "already has bodySHA256"},
  };
  for (const auto& c : cases) {
    const auto result = run_command(callproxy_args(c.args), no_token);
    INFO(c.message << " / " << result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.err.find(c.message) != std::string::npos);
    CHECK(result.out.empty());
  }
}

// Signatures are checked against --public-url: one that is not an absolute URL made every signed
// request fail with 403 while serve ran as if all were well.
TEST_CASE("serve refuses a --public-url that is not an absolute URL, at start, naming the flag", "[cli]") {
  for (const std::string bad : {"proxy.example.com", "/media", "ftp://proxy.example.com", "https://",
                                "wss:/x.example.com", "https://a:b:443/", "HTTPS://proxy.example.com"}) {
    INFO(bad);
    const auto run = run_command(callproxy_args({"serve", "--port", "0", "--store", "memory", "--public-url", bad}));
    CHECK(run.exit_code == 2);
    CHECK(run.err.find("--public-url: expected an absolute URL such as wss://proxy.example.com") != std::string::npos);
    CHECK(line_count(run.err) == 1);
  }
  const auto from_env = run_command(callproxy_args({"serve", "--port", "0", "--store", "memory"}),
                                    {{"CALLPROXY_PUBLIC_URL", "calls.example.com"}});
  CHECK(from_env.exit_code == 2);
  CHECK(from_env.err.find("--public-url") != std::string::npos);
}

TEST_CASE("serve's reply queue limits refuse nonsense with exit 2, naming the flag and its range", "[cli]") {
  const std::vector<std::pair<std::string, std::string>> bad{
      {"--max-reply-queue", "0"},          {"--max-reply-queue", "-1"},
      {"--max-reply-queue", "many"},       {"--max-reply-queue", "2000000"},
      {"--max-reply-queue-bytes", "100"},  {"--max-reply-queue-bytes", "-5"},
      {"--max-reply-queue-bytes", "1MiB"}, {"--max-reply-queue-bytes", "99999999999999999999"}};
  for (const auto& [flag, value] : bad) {
    INFO(flag << " " << value);
    const auto run = run_command(callproxy_args({"serve", "--port", "0", "--store", "memory", flag, value}));
    CHECK(run.exit_code == 2);
    CHECK(run.err.find(flag + ": Value " + value + " not in range") != std::string::npos);
    CHECK(line_count(run.err) == 1);
  }
  // The environment's value is checked alike.
  const auto from_env = run_command(callproxy_args({"serve", "--port", "0", "--store", "memory"}),
                                    {{"CALLPROXY_MAX_REPLY_QUEUE_BYTES", "12"}});
  CHECK(from_env.exit_code == 2);
  CHECK(from_env.err.find("--max-reply-queue-bytes: Value 12 not in range 1024 to 1073741824") != std::string::npos);
}

// CLI11's Range compares, and NaN compares false both ways: `nan` passed every floating-point
// setting and switched off what it bounds (a --pin-failure-window of NaN refused no wrong PIN, a
// --start-timeout of NaN closed every stream at once). Infinities are no setting either.
TEST_CASE("every floating-point setting refuses NaN and infinities, as a flag and as a variable, naming it", "[cli]") {
  const std::vector<std::string> not_finite{"nan", "NaN", "inf", "-inf", "infinity"};
  std::size_t settings = 0;
  for (const auto& sub : subcommands_that_end_at_once()) {
    CLI::App app;
    sub.setup(app);
    for (const auto* option : floating_point_options(*app.get_subcommand(sub.name))) {
      ++settings;
      const auto flag = "--" + option->get_lnames().front();
      for (const auto& value : not_finite) {
        INFO(sub.name << " " << flag << " " << value);
        auto args = sub.args;
        args.insert(args.end(), {flag, value});
        const auto as_flag = run_command(callproxy_args(args), no_token);
        CHECK(as_flag.exit_code == 2);
        CHECK(as_flag.err.find(flag + ": Value " + value + " is not a finite number") != std::string::npos);
        CHECK(line_count(as_flag.err) == 1);
        if (option->get_envname().empty()) continue;
        INFO(option->get_envname());
        const auto as_variable = run_command(callproxy_args(sub.args), {{option->get_envname(), value}});
        CHECK(as_variable.exit_code == 2);
        CHECK(as_variable.err.find(flag + ": Value " + value + " is not a finite number") != std::string::npos);
      }
    }
  }
  CHECK(settings >= 16);  // serve's thirteen durations, client-test's two, local-speaker's one

  // client-test's --dtmf takes seconds after its digits.
  for (const auto& value : not_finite) {
    INFO(value);
    const auto dtmf = run_command(
        callproxy_args({"client-test", "--url", url_no_one_listens_on(), "--once", "--dtmf", "1@" + value}));
    CHECK(dtmf.exit_code == 2);
    CHECK(dtmf.err.find("--dtmf: Value " + value + " is not a finite number") != std::string::npos);
  }
}
