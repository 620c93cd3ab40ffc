// The whole command line: the logging flags every subcommand takes, each subcommand and its
// flags, and --config FILE for serve's settings.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/logging.h"

namespace callproxy::cli {

struct CommandLine {
  CLI::App app{"callproxy: put Twilio Media Streams in front of your own backends.", "callproxy"};
  LogOptions log;
  std::map<std::string, RunFunction> commands;  // by subcommand name
  std::shared_ptr<ServeFlags> serve;            // serve's flags, once parsed
};

// Every subcommand and flag (without --config: this is what a file's keys are checked against).
void declare_commands(CommandLine& line);

// What main parses: the commands, one of them required, and --config FILE.
std::unique_ptr<CommandLine> make_command_line();

}  // namespace callproxy::cli
