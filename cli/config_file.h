// serve's settings from a TOML file (--config FILE), read as strict TOML (toml_document.h: an
// invalid file is an error naming its line and column) and handed to CLI11 key by key, and the
// documented file every setting generates (serve --print-config, kept as assets/callproxy.toml).
//
// A key is a setting's long flag name without its dashes (`max-body-bytes = 100`), at the top
// level of the file: serve's flags and the logging flags. Precedence: a flag on the command line,
// then its environment variable, then the file, then the default. Every key of a file is checked
// on its own, whatever overrides it, so a file is valid or not by itself; an unknown key, a key
// set twice or a section is an error naming it.
//
// The file is read as every file serve reads (core/regular_file.h): a regular file of at most
// max_config_file_bytes, opened without blocking. CLI11 would open it itself, a FIFO hanging it and
// /dev/zero growing it without end, so --config's value is read by preload() as it is parsed and
// CLI11 is handed a stand-in to open (/dev/null), while from_config() parses the text read.
#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace callproxy::cli {

// The most of a config file that is read: assets/callproxy.toml, every setting documented at
// length, is about 11 KiB; 1 MiB is room for any real file and refuses what is not one.
inline constexpr std::size_t max_config_file_bytes = std::size_t{1} << 20;

class ConfigFile : public CLI::ConfigTOML {
 public:
  // `root`: the app whose --config this reads (its own settings and those of `command`).
  // `make_probe`: a fresh app declaring the same flags, on which each key is checked alone.
  // A key is left out when the environment gives its setting: the setting's own variable, or
  // others declared with the flag (cli/other_variables.h).
  ConfigFile(const CLI::App& root, std::string command, std::function<std::shared_ptr<CLI::App>()> make_probe);

  // --config's transform: reads `path` and returns the stand-in CLI11 is to open in its place.
  // Throws CLI::FileError saying what is wrong with the file (missing, a FIFO, too big). An empty
  // path (no file) is returned as it is.
  std::string preload(const std::string& path);

  // Parses the text preload() read (`input` is the stand-in's, and empty). Throws
  // CLI::ConfigError naming the file: "FILE: line L, column C: invalid TOML: …" or "FILE: key '…': …".
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

 private:
  const CLI::Option* find_setting(const std::string& key, bool& on_command) const;
  void check_alone(const CLI::ConfigItem& item, const std::string& where) const;
  bool from_environment(const CLI::Option& option) const;

  const CLI::App& root_;
  std::string command_;
  std::function<std::shared_ptr<CLI::App>()> make_probe_;
  std::string path_;  // the file preload() read, as the user named it
  std::string text_;  // and its text
};

// Every setting of `command` (then the root's), each with its description, flag, variable and
// default, commented out: a TOML file that documents them all and changes nothing as it is.
// Sections follow the flags' groups (those of `--help`); deprecated names (group "Deprecated") are
// accepted in a file but not listed.
std::string config_template(const CLI::App& root, const std::string& command);

// The same settings as a Markdown page (docs/settings.md): a table per group, each setting's flag,
// variable, default, type and description.
std::string settings_reference(const CLI::App& root, const std::string& command);

}  // namespace callproxy::cli
