#include "cli/config_file.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>
#include <utility>

#include "cli/environment.h"
#include "cli/other_variables.h"
#include "cli/toml_document.h"
#include "core/regular_file.h"

namespace callproxy::cli {
namespace {

// Hands one item to a probe app, as if a file held that key alone.
class OneItem : public CLI::ConfigTOML {
 public:
  explicit OneItem(CLI::ConfigItem item) : item_(std::move(item)) {}
  std::vector<CLI::ConfigItem> from_config(std::istream& /*input*/) const override { return {item_}; }

 private:
  CLI::ConfigItem item_;
};

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const auto above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

struct Setting {
  const CLI::Option* option;
  bool on_command;  // the command's own, or the root's
};

// Settings in the order a reader meets them: the command's, then the root's (the logging flags).
std::vector<Setting> settings(const CLI::App& root, const std::string& command) {
  const auto is_setting = [](const CLI::Option* option) {
    return option->get_configurable() && !option->get_lnames().empty();
  };
  std::vector<Setting> out;
  const CLI::App& sub = *root.get_subcommand(command);
  for (const auto* option : sub.get_options(is_setting)) out.push_back({option, true});
  for (const auto* option : root.get_options(is_setting)) out.push_back({option, false});
  return out;
}

std::string key_of(const CLI::Option& option) { return option.get_lnames().front(); }

// " (did you mean 'max-body-bytes'?)" for a key one or two typing slips away from a setting.
std::string suggestion(const std::string& key, const std::vector<Setting>& all) {
  std::string dashed = key;
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  std::string best;
  std::size_t best_distance = 3;
  for (const auto& setting : all) {
    const auto distance = edit_distance(dashed, key_of(*setting.option));
    if (distance < best_distance) {
      best_distance = distance;
      best = key_of(*setting.option);
    }
  }
  return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

// A default as TOML writes it: numbers and true/false bare, text quoted, lists in brackets.
std::string toml_value(const CLI::Option& option) {
  const auto text = option.get_default_str();
  if (option.get_expected_min() == 0) return text.empty() ? "false" : text;  // a flag
  if (option.get_expected_max() > 1) {
    if (text.size() < 2 || text.front() != '[') return "[]";
    std::vector<std::string> items;
    std::stringstream inner(text.substr(1, text.size() - 2));
    for (std::string item; std::getline(inner, item, ',');) items.push_back(item);
    return "[" + CLI::detail::ini_join(items, ',', '\0', '\0') + "]";
  }
  return CLI::detail::convert_arg_for_ini(text);
}

// Prose as comment lines of at most 100 columns.
void write_comment(std::ostream& out, const std::string& text) {
  std::istringstream words(text);
  std::string line;
  for (std::string word; words >> word;) {
    if (!line.empty() && line.size() + 1 + word.size() > 98) {
      out << "# " << line << '\n';
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) out << "# " << line << '\n';
}

}  // namespace

ConfigFile::ConfigFile(const CLI::App& root, std::string command, std::function<std::shared_ptr<CLI::App>()> make_probe)
    : root_(root), command_(std::move(command)), make_probe_(std::move(make_probe)) {}

std::string ConfigFile::preload(const std::string& path) {
  if (path.empty()) return path;
  auto text = read_regular_file(path, max_config_file_bytes);
  if (!text) throw CLI::FileError(path + ": " + text.error());  // main says "config file" before it
  path_ = path;
  text_ = std::move(text.value());
  return "/dev/null";  // always there, read at once, and empty
}

std::vector<CLI::ConfigItem> ConfigFile::from_config(std::istream& /*input*/) const {
  const auto where = path_.empty() ? std::string("config file") : path_;
  const auto refuse = [&where](const std::string& what) { return CLI::ConfigError(where + ": " + what); };
  // Strict TOML first (toml_document.h): a syntax error names its line and column.
  auto document = read_toml(text_);
  if (!document) throw refuse(document.error());

  std::set<const CLI::Option*> seen;
  std::vector<CLI::ConfigItem> applied;
  for (auto& entry : document.value()) {
    if (entry.table_header || !entry.dotted.empty()) {
      const auto name = entry.table_header ? "[" + entry.key + "]" : "'" + entry.dotted + "'";
      throw refuse(name + ": tables and dotted keys are not used; write each key at the top level");
    }
    bool on_command = false;
    const auto* option = find_setting(entry.key, on_command);
    if (option == nullptr) {
      throw refuse("unknown key '" + entry.key + "'" + suggestion(entry.key, settings(root_, command_)) +
                   "; `callproxy " + command_ + " --print-config` lists every key");
    }
    if (!seen.insert(option).second) throw refuse("key '" + entry.key + "' is set twice");
    if (!entry.shape.empty()) {
      throw refuse("key '" + entry.key + "' (line " + std::to_string(entry.line) + "): " + entry.shape +
                   " is no setting's value; write text, a number, true/false or a list of them");
    }
    if (entry.values.empty()) continue;  // `backend = []`: no entries, as when the key is absent
    CLI::ConfigItem item;
    item.name = entry.key;
    item.inputs = std::move(entry.values);
    if (on_command) item.parents = {command_};
    check_alone(item, where);
    if (from_environment(*option)) continue;  // the environment wins over the file
    applied.push_back(std::move(item));
  }
  return applied;
}

const CLI::Option* ConfigFile::find_setting(const std::string& key, bool& on_command) const {
  for (const auto& setting : settings(root_, command_)) {
    const auto& names = setting.option->get_lnames();
    if (std::find(names.begin(), names.end(), key) == names.end()) continue;
    on_command = setting.on_command;
    return setting.option;
  }
  return nullptr;
}

// The key parsed alone on a fresh app with no environment, so its value is checked whatever
// the command line or the environment would put in its place, and the error names the key.
void ConfigFile::check_alone(const CLI::ConfigItem& item, const std::string& where) const {
  auto probe = make_probe_();
  for (auto* option : probe->get_options()) option->envname("");
  for (auto* sub : probe->get_subcommands([](CLI::App*) { return true; })) {
    for (auto* option : sub->get_options()) option->envname("");
  }
  probe->config_formatter(std::make_shared<OneItem>(item));
  std::istringstream nothing;
  try {
    probe->parse_from_stream(nothing);
  } catch (const CLI::ParseError& e) {
    throw CLI::ConfigError(where + ": key '" + item.name + "': " + e.what());
  }
}

bool ConfigFile::from_environment(const CLI::Option& option) const {
  // An empty variable counts as unset, as CLI11 has it.
  const auto name = option.get_envname();
  if (!name.empty() && environment_has(name)) return true;
  return set_by_other_variables(option);
}

namespace {

// The settings a reader is shown: hidden ones (an empty group) are left out, and so are the
// deprecated names from the template (a new file should not start with them).
std::vector<Setting> listed_settings(const CLI::App& root, const std::string& command, bool deprecated) {
  auto all = settings(root, command);
  all.erase(std::remove_if(all.begin(), all.end(),
                           [deprecated](const Setting& s) {
                             const auto& group = s.option->get_group();
                             return group.empty() || (!deprecated && group == "Deprecated");
                           }),
            all.end());
  return all;
}

std::string flag_names(const CLI::Option& option, const std::string& separator) {
  std::string flags;
  for (const auto& name : option.get_lnames()) flags += (flags.empty() ? "--" : separator + "--") + name;
  for (const auto& name : option.get_snames()) flags += separator + "-" + name;
  return flags;
}

// Text for a Markdown table cell: '|' would end the cell, '<' start HTML, '*' and '_' emphasis,
// '[' a link; each is escaped.
std::string markdown_cell(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '|' || c == '*' || c == '_' || c == '[' || c == ']' || c == '`') out += '\\';
    if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

// What CLI11 says a value must be, as a reader says it: "UINT:UINT in [0 - 256]" -> "UINT in [0 -
// 256]", "TEXT:FILE" -> "FILE", "TEXT:{simple,twilio}" -> "one of simple, twilio".
std::string value_type(const CLI::Option& option) {
  if (option.get_expected_min() == 0) return "flag";
  const auto type = option.get_type_name();
  const auto colon = type.find(':');
  if (colon == std::string::npos) return type;
  const auto base = type.substr(0, colon);
  auto rest = type.substr(colon + 1);
  if (rest.size() > 2 && rest.front() == '{' && rest.back() == '}') {
    std::string words = rest.substr(1, rest.size() - 2);
    std::string out = "one of ";
    for (const char c : words) out += c == ',' ? std::string(", ") : std::string(1, c);
    return out;
  }
  if (rest.rfind(base, 0) == 0 || base == "TEXT") return rest;
  return base + ", " + rest;
}

// The anchor GitHub gives a heading (lowercase, spaces to '-', punctuation dropped).
std::string heading_anchor(const std::string& heading) {
  std::string out;
  for (const char c : heading) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_') {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (c == ' ') {
      out += '-';
    }
  }
  return out;
}

}  // namespace

std::string config_template(const CLI::App& root, const std::string& command) {
  std::ostringstream out;
  out << "# callproxy " << command << ": every setting, commented out, with its default.\n"
      << "#\n"
      << "# Use: callproxy " << command << " --config FILE. A key is a flag's name without its leading \"--\";\n"
      << "# uncomment a line to set it. A flag on the command line wins over its environment variable,\n"
      << "# which wins over this file, which wins over the default. The file is strict TOML: numbers and\n"
      << "# true/false as they are, text in quotes ('...' taken as written, \"...\" with TOML's escapes:\n"
      << "# a backslash is \"\\\\\"), lists as [\"a\", \"b\"]; durations in seconds (30, 0.5) or as text\n"
      << "# with a unit (\"250ms\", \"5s\", \"2m\", \"1h\"). Invalid TOML stops " << command
      << " with its line and column,\n"
      << "# an unknown key, a bad value or a key set twice with the key named.\n"
      << "#\n"
      << "# Generated from the flags by `callproxy " << command << " --print-config`.\n";
  std::string group;
  for (const auto& [option, on_command] : listed_settings(root, command, false)) {
    if (option->get_group() != group) {
      group = option->get_group();
      const auto title = group + (on_command ? "" : " (every subcommand's flags)");
      out << "\n# " << title << ' ' << std::string(97 - std::min<std::size_t>(title.size(), 90), '-') << '\n';
    }
    out << '\n';
    write_comment(out, option->get_description());
    write_comment(out, flag_names(*option, " / ") +
                           (option->get_envname().empty() ? "" : ", environment " + option->get_envname()));
    out << '#' << key_of(*option) << " = " << toml_value(*option) << '\n';
  }
  return out.str();
}

std::string settings_reference(const CLI::App& root, const std::string& command) {
  const auto all = listed_settings(root, command, true);
  std::vector<std::string> groups;
  for (const auto& setting : all) {
    if (std::find(groups.begin(), groups.end(), setting.option->get_group()) == groups.end()) {
      groups.push_back(setting.option->get_group());
    }
  }
  std::ostringstream out;
  out << "# Settings reference\n\n"
      << "Every setting of `callproxy " << command << "`, in the groups of `callproxy " << command
      << " --help`: its flag, its\n"
      << "environment variable, its default and what it takes. Each is also a key of the config file,\n"
      << "the flag's name without `--` ([`assets/callproxy.toml`](../assets/callproxy.toml) lists them all,\n"
      << "commented out). How flags, variables and the file combine, the state store's forms and the exit\n"
      << "codes: [Configuration](configuration.md).\n\n"
      << "A DURATION is seconds (`1.5`) or a number with a unit (`250ms`, `5s`, `2m`, `1h`); in the config\n"
      << "file a number, or text with a unit (`\"250ms\"`).\n\n"
      << "This page is generated from the flags (`callproxy " << command << " --print-reference > docs/settings.md`);\n"
      << "a test fails when it differs from what the binary prints.\n\n";
  for (const auto& group : groups) {
    out << "- [" << group << "](#" << heading_anchor(group) << ")\n";
  }
  for (const auto& group : groups) {
    out << "\n## " << group << "\n\n| setting | environment | default | takes | meaning |\n|---|---|---|---|---|\n";
    for (const auto& [option, on_command] : all) {
      if (option->get_group() != group) continue;
      std::string flags;
      for (const auto& name : option->get_lnames()) flags += (flags.empty() ? "" : ", ") + ("`--" + name + "`");
      for (const auto& name : option->get_snames()) flags += ", `-" + name + "`";
      const auto env = option->get_envname();
      const auto fallback = option->get_expected_min() == 0 ? std::string("false") : std::string();
      const auto default_text = option->get_default_str().empty() ? fallback : option->get_default_str();
      out << "| " << flags << " | " << (env.empty() ? "" : "`" + env + "`") << " | "
          << (default_text.empty() ? "" : "`" + default_text + "`") << " | " << markdown_cell(value_type(*option))
          << " | " << markdown_cell(option->get_description()) << " |\n";
    }
  }
  return out.str();
}

}  // namespace callproxy::cli
