// callproxy: parse the command line, configure logging, run the chosen subcommand.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/command_line.h"

namespace {

int run(int argc, char** argv) {
  using namespace callproxy::cli;

  auto line = make_command_line();
  auto& app = line->app;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::FileError& e) {
    std::cerr << "callproxy: config file " << e.what() << "\n";
    return exit_usage;
  } catch (const CLI::ConfigError& e) {
    // One line naming the file and the key.
    std::cerr << "callproxy: " << e.what() << "\n";
    return exit_usage;
  } catch (const CLI::ParseError& e) {
    // One line naming the flag, then the usage exit code.
    std::cerr << "callproxy: " << e.what() << " (see callproxy --help)\n";
    return exit_usage;
  }

  const auto* chosen = app.get_subcommands().front();
  if (app.get_config_ptr()->count() > 0 && chosen->get_name() != "serve") {
    std::cerr << "callproxy: --config holds serve's settings; " << chosen->get_name() << " takes none\n";
    return exit_usage;
  }
  configure_logging(line->log);
  return line->commands.at(chosen->get_name())();
}

}  // namespace

int main(int argc, char** argv) {
  // Subcommands report their errors themselves; this is for what escaped them (a bug).
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "callproxy: unexpected error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "callproxy: unexpected error\n";
  }
  return callproxy::cli::exit_failure;
}
