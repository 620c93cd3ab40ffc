// serve's "Who may connect" settings: Twilio's request signatures (proxy/http's
// SignatureOptions), per-call stream tokens (proxy/media) and the open-relay acknowledgement.
#include "cli/duration.h"
#include "cli/serve_flags.h"
#include "twilio/signature.h"

namespace callproxy::cli {
namespace {

// --public-url: signatures are checked against it, so anything that is not an absolute http(s) or
// ws(s) URL would make every signed request fail; refused at start instead. Empty is unset (the
// config file's commented default), as before.
std::string check_public_url(const std::string& url) {
  if (url.empty()) return {};
  const auto scheme = url.substr(0, url.find("://"));
  if (!twilio::is_signable_url(url) || !twilio::is_web_scheme(scheme)) {
    return "expected an absolute URL such as wss://proxy.example.com (scheme https, wss, http or ws in lowercase, "
           "then a host)";
  }
  return {};
}

}  // namespace

void add_access_flags(CLI::App& app, proxy::ServeOptions& options) {
  app.option_defaults()->group(group::access);
  auto& signatures = options.signatures;
  add_switch(app, "--validate-signatures", signatures.validate, "VALIDATE_EXTERNAL_CALLS",
             "Refuse /media handshakes and signed routes without a valid X-Twilio-Signature");
  app.add_option("--auth-token", signatures.auth_token, "Twilio auth token, for signatures (never logged)")
      ->envname("TWILIO_AUTH_TOKEN");
  app.add_option("--public-url", signatures.public_url,
                 "The base URL Twilio signs (wss://calls.example.com or https://...: streams are checked as wss://, "
                 "webhooks as https://), when behind a proxy; without it the Host header is trusted (warned at "
                 "start). Also the host of the call flow's <Stream> URL")
      ->envname("CALLPROXY_PUBLIC_URL")
      ->check(check_public_url);
  app.add_option("--stream-token-secret", options.media.stream_token_secret,
                 "Secret for per-call stream tokens (at least 16 characters; never logged): when set, every stream "
                 "must carry a valid token, which the call flow mints")
      ->envname("CALLPROXY_STREAM_TOKEN_SECRET");
  add_duration(app, "--stream-token-ttl", options.media.stream_token_ttl,
               "How long a stream token minted by the call flow stays valid (the stream must start within it; "
               "whole seconds)",
               {1, 86400, true})
      ->envname("CALLPROXY_STREAM_TOKEN_TTL");
  add_switch(app, "--insecure-open-relay", options.insecure_open_relay, "CALLPROXY_INSECURE_OPEN_RELAY",
             "Listen beyond loopback without signatures and without --backend-allow, without the warning");
}

}  // namespace callproxy::cli
