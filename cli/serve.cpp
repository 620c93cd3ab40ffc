// callproxy serve: flags and environment (the Node service's names keep working) -> ServeOptions.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <memory>

#include "cli/commands.h"
#include "proxy/server.h"

namespace callproxy::cli {

int run_serve(const proxy::ServeOptions& options) {
  try {
    proxy::Server server(options);
    server.listen();
    server.run();
    return exit_ok;
  } catch (const std::exception& e) {
    spdlog::error("serve: {}", e.what());
    return exit_failure;
  }
}

RunFunction setup_serve(CLI::App& parent) {
  auto options = std::make_shared<proxy::ServeOptions>();
  auto* app = parent.add_subcommand("serve", "Run the proxy: Twilio streams on /media, the HTTP API");
  app->add_option("--port,-p", options->port, "TCP port to listen on (0 picks a free one)")
      ->envname("AUDIO_PROXY_PORT")
      ->capture_default_str();
  app->add_option("--bind", options->bind, "Address to listen on")->capture_default_str();
  app->add_option("--threads", options->threads, "Event loops (0 = one per core)")
      ->check(CLI::Range(0u, 256u))
      ->capture_default_str();
  app->add_option_function<double>(
         "--drain-timeout",
         [options](double seconds) {
           options->drain_timeout = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
         },
         "Seconds live calls may run on after SIGTERM/SIGINT (default 30)")
      ->check(CLI::Range(0.0, 86400.0));
  app->add_option("--max-body-bytes", options->max_body_bytes, "Largest HTTP request body accepted")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20))
      ->capture_default_str();
  return [options] { return run_serve(*options); };
}

}  // namespace callproxy::cli
