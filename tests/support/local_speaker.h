// local-speaker as a test's backend: started on a free loopback port, stopped with SIGTERM.
// Header-only.
#pragma once

#include <catch2/catch.hpp>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "support/child_process.h"

namespace callproxy::test {

struct Speaker {
  std::unique_ptr<ChildProcess> process;
  unsigned short port = 0;
  std::string host_port() const { return "127.0.0.1:" + std::to_string(port); }
};

// `callproxy local-speaker` with `args`, on 127.0.0.1 and a port of its choosing; returns once it
// listens.
inline Speaker start_speaker(std::vector<std::string> args, EnvChanges env = {}) {
  args.insert(args.begin(), {"local-speaker", "--bind", "127.0.0.1", "--port", "0"});
  Speaker s;
  s.process = std::make_unique<ChildProcess>(callproxy_args(args), std::move(env));
  const auto line = s.process->wait_for_stderr("listening on 127.0.0.1:");
  s.port = static_cast<unsigned short>(std::stoi(line.substr(line.find("127.0.0.1:") + 10)));
  return s;
}

// Stops the speaker (SIGTERM) and waits for it to exit cleanly.
inline void stop(Speaker& speaker) {
  speaker.process->signal(SIGTERM);
  CHECK(speaker.process->wait(std::chrono::seconds(15)) == 0);
}

}  // namespace callproxy::test
