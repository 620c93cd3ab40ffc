// A config file's text read as strict TOML (toml++, compiled in toml_document.cpp alone: its
// headers cost seconds of compile time, and nothing else needs them), flattened to what serve's
// settings are: top-level keys, each with its value as text, in the order the file has them.
//
// Invalid TOML (an unquoted string, a bare list, a key set twice, a broken table header, an
// unknown escape) is an error naming the line and column. What is valid TOML but no setting's
// shape (a table, a dotted key, an inline table, a date, a list of lists) is kept for the caller
// to refuse with the key's name: `table_header`, `dotted` or `shape` say what it is.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace callproxy::cli {

struct TomlEntry {
  std::string key;                   // the top-level key
  bool table_header = false;         // a table written as `[key]` (a header line of its own)
  std::string dotted;                // a table made by a dotted key: its first key in full (`serve.port`)
  std::vector<std::string> values;   // a scalar: one text; a list: one per item; `[]`: none
  bool list = false;                 // written as a list
  std::string shape;                 // not empty: what it is when it is no setting's value ("a date")
  std::size_t line = 0, column = 0;  // where it starts, from 1
};

// `text` as TOML; an error says "line L, column C: invalid TOML: what" (the caller puts the file's
// name first).
// Values as CLI11 reads them: text as TOML decodes it (escapes and all), integers in decimal,
// floats in their shortest form (`nan`, `inf` and `-inf` as such), true/false.
Result<std::vector<TomlEntry>> read_toml(std::string_view text);

}  // namespace callproxy::cli
