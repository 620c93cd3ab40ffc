// callproxy local-speaker: plays a backend's part, playing the caller's audio.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"

namespace callproxy::cli {

RunFunction setup_local_speaker(CLI::App& parent) {
  auto* app = parent.add_subcommand(
      "local-speaker", "Accept the proxy's backend stream and play it (not available yet)");
  (void)app;
  return [] {
    std::cerr << "callproxy local-speaker: not available in this version yet (tracked as issue 5)\n";
    return exit_usage;
  };
}

}  // namespace callproxy::cli
