// serve's flags, declared by room: each function declares one group of settings (one section of
// `serve --help`, of the config template and of docs/settings.md) on the options struct of the
// room that uses them. setup_serve (serve_command.cpp) is the list of these calls.
//
// They live here, not in the rooms: the rooms are linked by the fuzzers, the bench and the unit
// tests, none of which parses a command line, so only cli/ depends on CLI11.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "cli/boolean.h"
#include "proxy/serve_options.h"

namespace callproxy::cli {

// What the flags fill besides ServeOptions, turned into options when serve runs.
struct ServeFlags {
  proxy::ServeOptions options;
  std::vector<std::string> allow;           // --backend-allow patterns
  std::vector<std::string> transfer_allow;  // --transfer-allow patterns
  // --pin-api-timeout-ms / SERVER_API_TIMEOUT_MS (the Node service's, in milliseconds): applies
  // when --pin-api-timeout is not set.
  long long pin_api_timeout_ms = 0;
  bool print_config = false;
  bool print_reference = false;
};

// The section names, in the order --help, the template and the reference show them.
namespace group {
inline const std::string listening = "Listening";
inline const std::string backends = "Backends";
inline const std::string streams = "Streams";
inline const std::string access = "Who may connect";
inline const std::string callers = "Callers";
inline const std::string call_flow = "Call flow (TwiML)";
inline const std::string store = "State store";
inline const std::string http_limits = "HTTP limits";
inline const std::string deprecated = "Deprecated";  // accepted and documented; not in the template
inline const std::string logging = "Logging";
}  // namespace group

// proxy/http and the process: where serve listens, with how many loops, TLS, the drain.
void add_listening_flags(CLI::App& app, proxy::ServeOptions& options);
// proxy/http: what one connection and one request may cost.
void add_http_limit_flags(CLI::App& app, proxy::HttpOptions& http);
// proxy/media: where a call's audio goes and how backends are kept.
void add_backend_flags(CLI::App& app, proxy::MediaOptions& media, std::vector<std::string>& allow);
// proxy/media: what a stream may send and for how long it may say nothing.
void add_stream_flags(CLI::App& app, proxy::MediaOptions& media);
// proxy/http's signatures and proxy/media's stream tokens: who may stream to us.
void add_access_flags(CLI::App& app, proxy::ServeOptions& options);
// proxy/callers: PINs, the admin routes, attempts and failed-PIN budgets.
void add_callers_flags(CLI::App& app, proxy::CallersOptions& callers);
// --pin-api-timeout wins; else the deprecated --pin-api-timeout-ms or the Node service's
// SERVER_API_TIMEOUT_MS (milliseconds) sets the timeout. The flag, not the variable, is warned
// about. Called once the command line is parsed.
void resolve_pin_api_timeout(ServeFlags& flags, const CLI::App& serve);
// proxy/callers: the built-in call flow's words and rules.
void add_call_flow_flags(CLI::App& app, proxy::TwimlOptions& twiml);
// proxy/media: where a bot may transfer its call (checked by the call and by the flow).
void add_transfer_flags(CLI::App& app, std::vector<std::string>& transfer_allow);
// Old names that still work and say they are old; declared last, so listed last.
void add_deprecated_flags(CLI::App& app, ServeFlags& flags);

// proxy/store: which store, and how much may wait for it.
void add_store_flags(CLI::App& app, proxy::ServeOptions& options);

// A setting that takes one of a few words, each naming a value of `target`; its default is the
// word for what `target` holds.
template <class Value>
CLI::Option* add_choice(CLI::App& app, const std::string& name, Value& target,
                        std::vector<std::pair<std::string, Value>> words, const std::string& help) {
  std::vector<std::string> names;
  std::string current;
  for (const auto& [word, value] : words) {
    names.push_back(word);
    if (value == target) current = word;
  }
  return app
      .add_option_function<std::string>(
          name,
          [&target, words](const std::string& text) {
            for (const auto& [word, value] : words) {
              if (word == text) target = value;
            }
          },
          help)
      ->check(CLI::IsMember(names))
      ->default_str(current);
}

// "true"/"false", as a flag's default is shown.
inline std::string bool_text(bool value) { return value ? "true" : "false"; }

// A boolean setting: a flag (`names`: "--x", or "--x,!--no-x"), its variable `envname`, its
// default what `target` holds. Its values, from the variable, the config file or --x=VALUE, are
// read as the Node service read its variables (cli/boolean.h); any other is refused, naming the
// variable (CLI11 alone took `enable` and any integer, and refused `TRUE`'s friends unevenly).
inline CLI::Option* add_switch(CLI::App& app, const std::string& names, bool& target, const std::string& envname,
                               const std::string& help) {
  const CLI::Validator as_node_read(
      [envname](std::string& text) {
        const auto value = parse_boolean(text);
        if (!value) return "Value " + text + " is not true or false (" + envname + " takes " + boolean_words + ")";
        text = bool_text(*value);
        return std::string();
      },
      "");
  return app.add_flag(names, target, help)->default_str(bool_text(target))->envname(envname)->transform(as_node_read);
}

// "" when parse_backend takes a --backend or --twiml-backend entry, else why not.
std::string check_backend_entry(const std::string& entry);

}  // namespace callproxy::cli
