// Checks a /media upgrade before the WebSocket handshake: whether new calls are taken at all,
// and the signature Twilio puts on the handshake.
#pragma once

#include <atomic>
#include <optional>

#include "proxy/http/request_signing.h"
#include "proxy/http/router.h"
#include "proxy/media/metrics.h"

namespace callproxy::proxy {

class MediaGate {
 public:
  MediaGate(const RequestSigning& signing, const std::atomic<bool>& draining, Metrics& metrics)
      : signing_(signing), draining_(draining), metrics_(metrics) {}

  // nullopt: let it in; otherwise the refusal to send.
  std::optional<HttpResponse> check(const HttpRequest& upgrade) const;
  // A request to /media that is not a WebSocket upgrade.
  HttpResponse not_websocket() const;

 private:
  const RequestSigning& signing_;
  const std::atomic<bool>& draining_;
  Metrics& metrics_;
};

}  // namespace callproxy::proxy
