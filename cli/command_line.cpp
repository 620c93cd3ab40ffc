#include "cli/command_line.h"

#include "cli/config_file.h"
#include "cli/serve_flags.h"

namespace callproxy::cli {

void declare_commands(CommandLine& line) {
  auto& app = line.app;
  line.serve = std::make_shared<ServeFlags>();
  app.set_version_flag("--version", std::string("callproxy ") + CALLPROXY_VERSION);
  app.fallthrough();  // the logging flags (and --config) are accepted after the subcommand too

  app.option_defaults()->group("Logging");
  app.add_option("--log-level", line.log.level, "Log level")
      ->envname("LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--log-format", line.log.format, "Log line format")
      ->envname("LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  app.option_defaults()->group("Options");  // what comes after: --config, --help, --version

  line.commands = {
      {"serve", setup_serve(app, line.serve)},
      {"client-test", setup_client_test(app)},
      {"local-speaker", setup_local_speaker(app)},
      {"sign", setup_sign(app)},
  };
}

std::unique_ptr<CommandLine> make_command_line() {
  auto line = std::make_unique<CommandLine>();
  declare_commands(*line);
  auto& app = line->app;
  app.require_subcommand(1);

  // CLI11 reads the file (TOML) after the command line and before the environment; ConfigFile
  // checks every key and leaves out those the environment sets (a setting's own variable, or others
  // the flag declares: cli/other_variables.h), so a variable wins over the file.
  auto* config = app.set_config("--config", "",
                                "serve: read settings from this TOML file (keys: serve's flags without --)")
                     ->type_name("FILE");
  app.allow_config_extras(CLI::config_extras_mode::error);
  auto make_probe = [] {
    auto probe = std::make_shared<CommandLine>();
    declare_commands(*probe);
    return std::shared_ptr<CLI::App>(probe, &probe->app);
  };
  auto file = std::make_shared<ConfigFile>(app, "serve", make_probe);
  // The file is read where --config is parsed, within bounds, never by CLI11 (config_file.h).
  config->transform([file](const std::string& path) { return file->preload(path); })->trigger_on_parse();
  app.config_formatter(file);
  return line;
}

}  // namespace callproxy::cli
