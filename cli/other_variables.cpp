#include "cli/other_variables.h"

#include <string>
#include <utility>

namespace callproxy::cli {
namespace {

// CLI11 has no room for a property of our own on an option; a named validator travels with it.
// It is inactive, so parsing never runs it and --help shows nothing of it (no description).
const std::string validator_name = "also-set-by";

}  // namespace

CLI::Option* also_set_by(CLI::Option* option, std::function<bool()> given) {
  CLI::Validator property([given = std::move(given)](std::string&) { return given() ? "given" : ""; }, "",
                          validator_name);
  property.active(false);
  return option->check(std::move(property));
}

bool set_by_other_variables(const CLI::Option& option) {
  // get_validator has no const overload; it only looks the validator up.
  auto& lookup = const_cast<CLI::Option&>(option);  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  CLI::Validator property;
  try {
    property = *lookup.get_validator(validator_name);
  } catch (const CLI::OptionNotFound&) {
    return false;  // none declared
  }
  property.active(true);
  std::string unused;
  return !property(unused).empty();
}

}  // namespace callproxy::cli
