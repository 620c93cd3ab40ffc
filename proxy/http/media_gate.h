// Checks a /media upgrade before the WebSocket handshake: whether new calls are taken at all,
// the signature Twilio puts on the handshake, and --max-calls.
#pragma once

#include <atomic>
#include <optional>

#include "proxy/http/connection_limits.h"
#include "proxy/http/request_signing.h"
#include "proxy/http/router.h"
#include "proxy/metrics/metrics.h"

namespace callproxy::proxy {

class MediaGate {
 public:
  MediaGate(const RequestSigning& signing, const std::atomic<bool>& draining, ConnectionLimits& limits,
            Metrics& metrics)
      : signing_(signing), draining_(draining), limits_(limits), metrics_(metrics) {}

  // nullopt: let it in, with `call` holding its place among the calls for as long as the call
  // keeps it; otherwise the refusal to send.
  std::optional<HttpResponse> check(const HttpRequest& upgrade, Lease& call) const;
  // A request to /media that is not a WebSocket upgrade.
  HttpResponse not_websocket() const;

 private:
  std::optional<HttpResponse> admit(Lease& call) const;

  const RequestSigning& signing_;
  const std::atomic<bool>& draining_;
  ConnectionLimits& limits_;
  Metrics& metrics_;
};

}  // namespace callproxy::proxy
