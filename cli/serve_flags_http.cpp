// serve's Listening and HTTP limits settings (proxy/http's HttpOptions and the process's).
#include "cli/duration.h"
#include "cli/serve_flags.h"

namespace callproxy::cli {

void add_listening_flags(CLI::App& app, proxy::ServeOptions& options) {
  app.option_defaults()->group(group::listening);
  auto& http = options.http;
  app.add_option("--port,-p", http.port, "TCP port to listen on (0 picks a free one; the log names it)")
      ->envname("AUDIO_PROXY_PORT")
      ->capture_default_str();
  app.add_option("--bind", http.bind, "Address to listen on")->envname("CALLPROXY_BIND")->capture_default_str();
  app.add_option("--threads", options.threads, "Event loops (0 = one per core); a call and its backends stay on one")
      ->envname("CALLPROXY_THREADS")
      ->check(CLI::Range(0u, 256u))
      ->capture_default_str();
  add_duration(app, "--drain-timeout", options.drain_timeout,
               "How long live calls may run on after SIGTERM/SIGINT (new ones are refused meanwhile)", {0, 86400})
      ->envname("CALLPROXY_DRAIN_TIMEOUT");
  add_switch(app, "--drain-handover,!--no-drain-handover", options.drain_handover, "CALLPROXY_DRAIN_HANDOVER",
             "On SIGTERM/SIGINT, close live calls' streams at once so that the call flow reconnects them to another "
             "instance behind the load balancer (needs --after-stream reconnect; HTTP is answered 5 s more)");
  app.add_option("--tls-cert", http.tls_cert, "Serve https:// and wss:// with this certificate chain (PEM; TLS 1.2+)")
      ->envname("CALLPROXY_TLS_CERT")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", http.tls_key, "The certificate's private key (PEM)")
      ->envname("CALLPROXY_TLS_KEY")
      ->check(CLI::ExistingFile);
}

void add_http_limit_flags(CLI::App& app, proxy::HttpOptions& http) {
  app.option_defaults()->group(group::http_limits);
  app.add_option("--max-body-bytes", http.max_body_bytes, "Largest HTTP request body accepted (larger: 413)")
      ->envname("CALLPROXY_MAX_BODY_BYTES")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20))
      ->capture_default_str();
  add_duration(app, "--header-timeout", http.header_timeout,
               "How long a request's header may take from its first byte (a new connection: from accept)", {0.1, 600})
      ->envname("CALLPROXY_HEADER_TIMEOUT");
  add_duration(app, "--request-timeout", http.request_timeout,
               "How long a request's body and handler may take together; then it is answered 503", {0.1, 600})
      ->envname("CALLPROXY_REQUEST_TIMEOUT");
  app.add_option("--max-connections", http.max_connections,
                 "Connections at once, calls included; past it 503 (8 more are kept for /healthz and /readyz). "
                 "Default: what the file descriptor limit allows")
      ->envname("CALLPROXY_MAX_CONNECTIONS")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}));
  app.add_option("--max-connections-per-source", http.max_connections_per_source,
                 "Connections at once from one address (IPv6: one /64), calls included; past it 503. 0 = no cap "
                 "(keep it 0 behind a balancer or proxy, where every connection comes from its address, and above "
                 "your busiest calls: Twilio's calls come from a few Twilio addresses)")
      ->envname("CALLPROXY_MAX_CONNECTIONS_PER_SOURCE")
      ->check(CLI::Range(std::size_t{0}, std::size_t{100'000'000}))
      ->capture_default_str();
  app.add_option("--max-calls", http.max_calls,
                 "Media streams at once; past it a new one is refused 503 before the upgrade. Default: what the "
                 "file descriptor limit allows")
      ->envname("CALLPROXY_MAX_CALLS")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}));
}

}  // namespace callproxy::cli
