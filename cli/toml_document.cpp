// The one translation unit that includes toml++ (see toml_document.h).
#include "cli/toml_document.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <string>

namespace callproxy::cli {
namespace {

std::string position(const toml::source_position& at) {
  return "line " + std::to_string(at.line) + ", column " + std::to_string(at.column);
}

// A scalar as CLI11 takes it, or an empty shape naming what it is when it is none of them.
bool scalar_text(const toml::node& node, std::string& text, std::string& shape) {
  if (const auto* s = node.as_string()) {
    text = s->get();
  } else if (const auto* i = node.as_integer()) {
    text = std::to_string(i->get());
  } else if (const auto* f = node.as_floating_point()) {
    char buffer[64];
    const auto done = std::to_chars(buffer, buffer + sizeof buffer, f->get());
    text.assign(buffer, done.ptr);
  } else if (const auto* b = node.as_boolean()) {
    text = b->get() ? "true" : "false";
  } else if (node.is_date() || node.is_time() || node.is_date_time()) {
    shape = "a date or time";
  } else if (node.is_table()) {
    shape = "a table";
  } else {
    shape = "a list";
  }
  return shape.empty();
}

// Line `line` of `text` starts with '[' (after blanks): a table header.
bool header_at(std::string_view text, std::size_t line) {
  std::size_t start = 0;
  for (std::size_t n = 1; n < line && start != std::string_view::npos; ++n) {
    start = text.find('\n', start);
    if (start != std::string_view::npos) ++start;
  }
  if (start == std::string_view::npos) return false;
  const auto first = text.find_first_not_of(" \t", start);
  return first != std::string_view::npos && text[first] == '[';
}

// A table's first leaf below it (for its name in an error: `serve.port`), or the table itself.
void first_leaf(const toml::table& table, std::vector<std::string>& path, const toml::node*& leaf) {
  const toml::node* best = nullptr;
  std::string best_key;
  for (const auto& [key, node] : table) {
    const auto& at = node.source().begin;
    if (best == nullptr || at.line < best->source().begin.line ||
        (at.line == best->source().begin.line && at.column < best->source().begin.column)) {
      best = &node;
      best_key = std::string(key.str());
    }
  }
  if (best == nullptr) return;
  path.push_back(best_key);
  leaf = best;
  if (const auto* inner = best->as_table(); inner != nullptr && !inner->is_inline()) first_leaf(*inner, path, leaf);
}

}  // namespace

Result<std::vector<TomlEntry>> read_toml(std::string_view text) {
  toml::table document;
  try {
    document = toml::parse(text, std::string_view("config file"));
  } catch (const toml::parse_error& e) {
    std::string what(e.description());
    // "cannot redefine existing integer 'port'": said as the rest of the file's errors say it.
    const auto quote = what.find('\'');
    if (what.find("cannot redefine existing") != std::string::npos && quote != std::string::npos &&
        what.find(" as ") == std::string::npos) {
      what = "key " + what.substr(quote) + " is set twice";
    }
    return Error{position(e.source().begin) + ": invalid TOML: " + what};
  }
  std::vector<TomlEntry> entries;
  for (const auto& [key, node] : document) {
    TomlEntry entry;
    entry.key = std::string(key.str());
    entry.line = node.source().begin.line;
    entry.column = node.source().begin.column;
    if (const auto* table = node.as_table()) {
      if (table->is_inline()) {
        entry.shape = "an inline table";
      } else {
        entry.table_header = header_at(text, entry.line);
        if (!entry.table_header) {
          std::vector<std::string> path{entry.key};
          const toml::node* leaf = nullptr;
          first_leaf(*table, path, leaf);
          for (const auto& part : path) entry.dotted += (entry.dotted.empty() ? "" : ".") + part;
        }
      }
    } else if (const auto* list = node.as_array()) {
      entry.list = true;
      for (const auto& item : *list) {
        std::string value;
        if (!scalar_text(item, value, entry.shape)) {
          entry.shape = "a list holding " + entry.shape;
          break;
        }
        entry.values.push_back(std::move(value));
      }
    } else {
      std::string value;
      if (scalar_text(node, value, entry.shape)) entry.values.push_back(std::move(value));
    }
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const TomlEntry& a, const TomlEntry& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  return entries;
}

}  // namespace callproxy::cli
