// serve's settings from a TOML file (--config FILE), read by CLI11's own config support, and the
// documented file every setting generates (serve --print-config, kept as assets/callproxy.toml).
//
// A key is a setting's long flag name without its dashes (`max-body-bytes = 100`), at the top
// level of the file: serve's flags and the logging flags. Precedence: a flag on the command line,
// then its environment variable, then the file, then the default. Every key of a file is checked
// on its own, whatever overrides it, so a file is valid or not by itself; an unknown key, a key
// set twice or a section is an error naming it.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>

namespace callproxy::cli {

class ConfigFile : public CLI::ConfigTOML {
 public:
  // `root`: the app whose --config this reads (its own settings and those of `command`).
  // `make_probe`: a fresh app declaring the same flags, on which each key is checked alone.
  // `also_from_environment`: whether a setting is given by an environment variable other than
  // its own (the Node service's REMOTE_CACHE_ENABLED + REDIS_HOST for --store).
  ConfigFile(const CLI::App& root, std::string command, std::function<std::shared_ptr<CLI::App>()> make_probe,
             std::function<bool(const CLI::Option&)> also_from_environment);

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

 private:
  const CLI::Option* find_setting(const std::string& key, bool& on_command) const;
  void check_alone(const CLI::ConfigItem& item, const std::string& where) const;
  bool from_environment(const CLI::Option& option) const;

  const CLI::App& root_;
  std::string command_;
  std::function<std::shared_ptr<CLI::App>()> make_probe_;
  std::function<bool(const CLI::Option&)> also_from_environment_;
};

// Every setting of `command` (then the root's), each with its description, flag, variable and
// default, commented out: a TOML file that documents them all and changes nothing as it is.
std::string config_template(const CLI::App& root, const std::string& command);

}  // namespace callproxy::cli
