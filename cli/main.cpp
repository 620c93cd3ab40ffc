// callproxy: parse the command line, configure logging, run the chosen subcommand.
#include <CLI/CLI.hpp>

#include <iostream>
#include <map>

#include "cli/commands.h"
#include "cli/logging.h"

namespace {

int run(int argc, char** argv) {
  using namespace callproxy::cli;

  CLI::App app{"callproxy: put Twilio Media Streams in front of your own backends.", "callproxy"};
  app.set_version_flag("--version", std::string("callproxy ") + CALLPROXY_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // the logging flags are accepted after the subcommand too

  LogOptions log;
  app.add_option("--log-level", log.level, "Log level")
      ->envname("LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--log-format", log.format, "Log line format")
      ->envname("LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  const std::map<std::string, RunFunction> commands{
      {"serve", setup_serve(app)},
      {"client-test", setup_client_test(app)},
      {"local-speaker", setup_local_speaker(app)},
      {"sign", setup_sign(app)},
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line naming the flag, then the usage exit code.
    std::cerr << "callproxy: " << e.what() << " (see callproxy --help)\n";
    return exit_usage;
  }

  configure_logging(log);
  const auto* chosen = app.get_subcommands().front();
  return commands.at(chosen->get_name())();
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
