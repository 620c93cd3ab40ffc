// callproxy client-test: plays Twilio's part of a call against a proxy.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"

namespace callproxy::cli {

RunFunction setup_client_test(CLI::App& parent) {
  auto* app = parent.add_subcommand(
      "client-test", "Replay a recorded call exactly as Twilio streams it (not available yet)");
  (void)app;
  return [] {
    std::cerr << "callproxy client-test: not available in this version yet (tracked as issue 5)\n";
    return exit_usage;
  };
}

}  // namespace callproxy::cli
