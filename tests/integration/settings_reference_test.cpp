// serve's settings as the binary shows them: --help in sections, the deprecated millisecond flag
// listed last and warned about, and docs/settings.md equal to what --print-reference prints.
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>

#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/serve_flags.h"
#include "support/child_process.h"

using namespace callproxy;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("the deprecated --pin-api-timeout-ms works and says so, the Node service's variable is not warned about",
          "[cli][duration]") {
  const auto help = test::run_command(test::callproxy_args({"serve", "--help"}));
  CHECK(help.exit_code == 0);  // the old flag is listed last, under Deprecated
  const auto deprecated = help.out.find("\nDeprecated:\n");
  REQUIRE(deprecated != std::string::npos);
  CHECK(help.out.find("--pin-api-timeout-ms", deprecated) != std::string::npos);
  CHECK(help.out.find("--pin-api-timeout-ms") > deprecated);
  CHECK(help.out.find("--pin-api-timeout DURATION") < deprecated);
  // Not suggested in the config template; documented in the reference.
  const auto config = test::run_command(test::callproxy_args({"serve", "--print-config"}));
  CHECK(config.out.find("pin-api-timeout-ms") == std::string::npos);
  const auto reference = test::run_command(test::callproxy_args({"serve", "--print-reference"}));
  CHECK(reference.out.find("| `--pin-api-timeout-ms` | `SERVER_API_TIMEOUT_MS` |") != std::string::npos);

  // The warning comes before serve listens, which start_serve waits for.
  auto serve = test::start_serve({"--pin-api-timeout-ms", "300"});
  auto node = test::start_serve({}, {{"SERVER_API_TIMEOUT_MS", "300"}});
  CHECK(serve.process->err().find("--pin-api-timeout-ms is deprecated: write --pin-api-timeout 300ms") !=
        std::string::npos);
  CHECK(node.process->err().find("deprecated") == std::string::npos);
}

TEST_CASE("serve --help reads in sections, every setting in one", "[cli]") {
  const auto help = test::run_command(test::callproxy_args({"serve", "--help"}));
  REQUIRE(help.exit_code == 0);
  std::size_t at = 0;
  for (const auto& group :
       {cli::group::listening, cli::group::backends, cli::group::streams, cli::group::access, cli::group::callers,
        cli::group::call_flow, cli::group::store, cli::group::http_limits, cli::group::deprecated}) {
    INFO(group);
    const auto found = help.out.find("\n" + group + ":\n", at);
    REQUIRE(found != std::string::npos);  // present, and after the one before
    at = found;
  }
  CLI::App app;
  cli::setup_serve(app);
  for (const auto* option : app.get_subcommand("serve")->get_options()) {
    INFO(option->get_name());
    const auto& group = option->get_group();
    if (option->get_name() == "--pin-api-timeout-ms") {
      CHECK(group == cli::group::deprecated);
    } else if (option->get_configurable()) {
      CHECK(group != "Options");  // a setting has a section of its own
      CHECK_FALSE(group.empty());
    }
  }
}

TEST_CASE("docs/settings.md is what `callproxy serve --print-reference` prints", "[cli][config][docs]") {
  const auto printed = test::run_command(test::callproxy_args({"serve", "--print-reference"}));
  REQUIRE(printed.exit_code == 0);
  const std::string committed_path = std::string(CALLPROXY_SOURCE_DIR) + "/docs/settings.md";
  if (printed.out != read_file(committed_path)) {
    FAIL("docs/settings.md is out of date with serve's flags; regenerate it with\n  " CALLPROXY_BIN
         " serve --print-reference > " CALLPROXY_SOURCE_DIR "/docs/settings.md");
  }
  // Every setting --print-config lists is in the reference, and the other way round.
  const auto config = test::run_command(test::callproxy_args({"serve", "--print-config"}));
  std::istringstream lines(config.out);
  std::size_t keys = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.size() < 2 || line[0] != '#' || std::islower(static_cast<unsigned char>(line[1])) == 0) continue;
    const auto key = line.substr(1, line.find(" = ") - 1);
    INFO(key);
    CHECK(printed.out.find("| `--" + key + "`") != std::string::npos);
    ++keys;
  }
  CHECK(keys >= 60);
}
