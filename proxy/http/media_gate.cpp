#include "proxy/http/media_gate.h"

#include <spdlog/spdlog.h>

namespace callproxy::proxy {

std::optional<HttpResponse> MediaGate::check(const HttpRequest& upgrade) const {
  if (draining_.load()) {
    metrics_.handshake_rejections[Rejection::draining].add();
    return HttpResponse::error(503, "server is shutting down: not taking new calls");
  }
  if (!signing_.enabled()) return std::nullopt;
  const auto signature = upgrade.header("X-Twilio-Signature");
  if (signature.empty()) {
    metrics_.handshake_rejections[Rejection::missing_signature].add();
    spdlog::warn("media: handshake without X-Twilio-Signature refused");
    return HttpResponse::error(400, "missing X-Twilio-Signature header");
  }
  const auto url = signing_.signed_url("wss", upgrade.header("Host"), upgrade.target);
  if (signing_.validator().validate(signature, url, {}) != twilio::SignatureVerdict::valid) {
    metrics_.handshake_rejections[Rejection::bad_signature].add();
    spdlog::warn("media: handshake with an invalid signature refused (signed URL checked: {}, query not shown)",
                 without_query(url));
    return HttpResponse::error(403, "invalid X-Twilio-Signature");
  }
  return std::nullopt;
}

HttpResponse MediaGate::not_websocket() const {
  metrics_.handshake_rejections[Rejection::not_websocket].add();
  return HttpResponse::error(426, "/media takes a WebSocket upgrade (Twilio Media Streams)");
}

}  // namespace callproxy::proxy
