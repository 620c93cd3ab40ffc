// callproxy serve: flags, environment (the Node service's names keep working) and a config file
// -> ServeOptions. The flags themselves are declared by room in serve_flags_*.cpp.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "cli/boolean.h"
#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/environment.h"
#include "cli/serve_flags.h"
#include "proxy/callers/twiml_routes.h"
#include "proxy/server.h"

namespace callproxy::cli {
namespace {

// The Node service's REMOTE_CACHE_ENABLED + REDIS_HOST, when neither --store nor CALLPROXY_STORE
// is given (a config file's store is left out when REMOTE_CACHE_ENABLED is true: the environment
// wins). The Node service refused to start with the cache enabled and no host; so does serve,
// rather than fall back to a file of its own on each instance of a fleet.
void apply_node_cache_settings(proxy::ServeOptions& options, const CLI::App& app) {
  auto cache = node_cache();
  if (!cache) throw std::invalid_argument(cache.error());
  if (app.count("--store") > 0 || !cache.value().enabled) return;
  if (!cache.value().store) {
    throw std::invalid_argument(
        "REMOTE_CACHE_ENABLED is true but REDIS_HOST is not set: set REDIS_HOST to the Redis the instances share "
        "(host, host:port or a redis[s]:// URL), or choose the store with --store (CALLPROXY_STORE)");
  }
  options.store = *cache.value().store;
}

// Whether `flag` was given, empty included: on the command line or in the file (counted), or as
// its environment variable set to "" (which CLI11 counts as unset).
bool given_empty(const CLI::App& app, const std::string& flag) {
  const auto* option = app.get_option(flag);
  if (option->count() > 0) return true;
  return environment_value(option->get_envname()) == EnvironmentValue::empty;
}

// What run_serve makes of the parsed flags before the server sees them (at start and on SIGHUP).
// Throws std::invalid_argument naming the setting.
void prepare_options(ServeFlags& flags, const CLI::App& app) {
  auto& options = flags.options;
  apply_node_cache_settings(options, app);
  resolve_pin_api_timeout(flags, app);
  // No key at all leaves the admin routes shut; a key given empty is a mistake, not a choice,
  // from the environment too (CLI11 takes an empty variable for an unset one: SERVER_API_KEY=
  // started serve keyless, its debug routes open, with no word).
  if (given_empty(app, "--api-key") && options.callers.api_key.empty()) {
    throw std::invalid_argument("--api-key (SERVER_API_KEY) is empty: give a key of at least " +
                                std::to_string(proxy::min_api_key_chars) + " characters, or none");
  }
  if (given_empty(app, "--stream-token-secret") && options.media.stream_token_secret.empty()) {
    throw std::invalid_argument("--stream-token-secret (CALLPROXY_STREAM_TOKEN_SECRET) is empty: give a secret of at "
                                "least 16 characters, or none");
  }
  for (const auto& pattern : flags.allow) options.media.backend_allowlist.add(pattern);
  if (options.drain_handover) {
    const auto policy = proxy::parse_after_stream(options.callers.twiml.after_stream);
    if (!policy || policy.value().kind != proxy::AfterStreamPolicy::Kind::reconnect) {
      throw std::invalid_argument("--drain-handover needs --after-stream reconnect: without it a call whose stream "
                                  "is closed is not given a new one");
    }
  }
  for (const auto& pattern : flags.transfer_allow) {
    if (auto added = options.media.transfer_allow.add(pattern); !added) throw std::invalid_argument(added.error());
  }
}

// Each setting's values as a parse left them (what a flag, a variable or the file gave; none for a
// default), by key: what SIGHUP compares to tell what changed.
using GivenValues = std::map<std::string, std::vector<std::string>>;
GivenValues given_values(const CLI::App& serve) {
  GivenValues out;
  const auto is_setting = [](const CLI::Option* o) { return o->get_configurable() && !o->get_lnames().empty(); };
  for (const auto* app : {&serve, static_cast<const CLI::App*>(serve.get_parent())}) {
    for (const auto* option : app->get_options(is_setting)) out[option->get_lnames().front()] = option->results();
  }
  return out;
}

// The command line serve was started with, as the kernel keeps it (argv without argv[0]).
std::vector<std::string> own_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  if (!args.empty()) args.erase(args.begin());
  return args;
}

// SIGHUP: the settings read again as at start, from the same command line, the environment and
// the config file (re-read). A live setting is compared with the last reload applied, any other
// with the start (it needs a restart until then).
struct SettingsHistory {
  GivenValues at_start, applied;
};
Result<proxy::ReloadedSettings> reread_settings(const std::shared_ptr<SettingsHistory>& history) {
  auto args = own_arguments();
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  auto line = make_command_line();
  try {
    line->app.parse(args);
  } catch (const CLI::FileError& e) {
    return Error{std::string("config file ") + e.what()};
  } catch (const CLI::ParseError& e) {
    return Error{e.what()};
  }
  const auto* serve = line->app.get_subcommand("serve");
  try {
    prepare_options(*line->serve, *serve);
  } catch (const std::invalid_argument& e) {
    return Error{e.what()};
  }
  auto now = given_values(*serve);
  proxy::ReloadedSettings reloaded{line->serve->options, line->log.level, {}, {}};
  for (const auto& [key, values] : now) {
    const auto& before = proxy::is_live_setting(key) ? history->applied : history->at_start;
    const auto was = before.find(key);
    if (was == before.end() || was->second != values) reloaded.changed.push_back(key);
  }
  reloaded.applied = [history, now = std::move(now)] { history->applied = now; };
  return reloaded;
}

int run_serve(ServeFlags& flags, const CLI::App& app) {
  // A SIGHUP before serve is ready for it (systemctl reload, a certbot hook while it opens its
  // store) must not end the process, as its default action would: ignored until serve's own
  // handler takes it over.
  std::signal(SIGHUP, SIG_IGN);
  if (flags.print_config) {
    std::cout << config_template(*app.get_parent(), app.get_name());
    return exit_ok;
  }
  if (flags.print_reference) {
    std::cout << settings_reference(*app.get_parent(), app.get_name());
    return exit_ok;
  }
  auto& options = flags.options;
  try {
    prepare_options(flags, app);
    proxy::Server server(options);
    auto history = std::make_shared<SettingsHistory>();
    history->at_start = history->applied = given_values(app);
    server.reload_settings_with([history] { return reread_settings(history); });
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

}  // namespace

Result<NodeCache> node_cache() {
  // Read once at start-up, before any thread exists; empty is unset, as for every variable.
  const char* enabled = std::getenv("REMOTE_CACHE_ENABLED");  // NOLINT(concurrency-mt-unsafe)
  const char* host = std::getenv("REDIS_HOST");               // NOLINT(concurrency-mt-unsafe)
  NodeCache cache;
  if (enabled == nullptr || *enabled == '\0') return cache;
  const auto on = parse_boolean(enabled);
  if (!on) {
    return Error{"REMOTE_CACHE_ENABLED=" + std::string(enabled) + " is not true or false (it takes " + boolean_words +
                 ")"};
  }
  cache.enabled = *on;
  if (!cache.enabled || host == nullptr || *host == '\0') return cache;
  // A host, host:port or a redis[s]:// URL.
  std::string where(host);
  if (where.rfind("redis://", 0) == 0 || where.rfind("rediss://", 0) == 0) {
    cache.store = where;
  } else {
    if (where.find(':') == std::string::npos) where += ":6379";
    cache.store = "redis://" + where;
  }
  return cache;
}

RunFunction setup_serve(CLI::App& parent) { return setup_serve(parent, std::make_shared<ServeFlags>()); }

RunFunction setup_serve(CLI::App& parent, const std::shared_ptr<ServeFlags>& flags) {
  auto& options = flags->options;
  auto* app = parent.add_subcommand("serve", "Run the proxy: Twilio streams on /media, the HTTP API");
  app->footer(
      "Every flag can also be set in a TOML file: callproxy serve --config FILE, the flag's name without its -- as "
      "the key (callproxy serve --print-config writes one with every setting). A flag wins over its environment "
      "variable, which wins over the file. A DURATION is seconds (1.5) or a number with a unit (250ms, 5s, 2m, 1h).");
  // Actions, not settings: neither in a config file nor in the reference.
  app->add_flag("--print-config", flags->print_config,
                "Print a TOML config file documenting every setting with its default, and exit")
      ->configurable(false);
  app->add_flag("--print-reference", flags->print_reference,
                "Print the settings reference (Markdown: docs/settings.md), and exit")
      ->configurable(false);

  add_listening_flags(*app, options);
  add_backend_flags(*app, options.media, flags->allow);
  add_stream_flags(*app, options.media);
  add_access_flags(*app, options);
  add_callers_flags(*app, options.callers);
  add_call_flow_flags(*app, options.callers.twiml);
  add_transfer_flags(*app, flags->transfer_allow);
  add_store_flags(*app, options);
  add_http_limit_flags(*app, options.http);
  add_deprecated_flags(*app, *flags);
  return [flags, app] { return run_serve(*flags, *app); };
}

}  // namespace callproxy::cli
