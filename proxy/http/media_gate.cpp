#include "proxy/http/media_gate.h"

#include <spdlog/fmt/fmt.h>

#include "proxy/http/limited_log.h"

namespace callproxy::proxy {

std::optional<HttpResponse> MediaGate::check(const HttpRequest& upgrade, Lease& call) const {
  if (draining_.load()) {
    metrics_.handshake_rejections[Rejection::draining].add();
    return HttpResponse::error(503, "server is shutting down: not taking new calls");
  }
  if (!signing_.enabled()) return admit(call);
  const auto signature = upgrade.header("X-Twilio-Signature");
  if (signature.empty()) {
    metrics_.handshake_rejections[Rejection::missing_signature].add();
    signature_refusal_log().write("media: no signature", "media: handshake without X-Twilio-Signature refused");
    return HttpResponse::error(400, "missing X-Twilio-Signature header");
  }
  const auto url = signing_.signed_url("wss", upgrade.header("Host"), upgrade.target);
  if (signing_.validator().validate(signature, url, {}) != twilio::SignatureVerdict::valid) {
    metrics_.handshake_rejections[Rejection::bad_signature].add();
    signature_refusal_log().write(
        "media: invalid signature",
        fmt::format("media: handshake with an invalid signature refused (signed URL checked: {}, query not shown)",
                    logged_text(without_query(url))));
    return HttpResponse::error(403, "invalid X-Twilio-Signature");
  }
  return admit(call);
}

std::optional<HttpResponse> MediaGate::admit(Lease& call) const {
  call = limits_.admit_call();
  if (call) return std::nullopt;
  // The calls already running are left alone: the new one is refused before the upgrade, and
  // Twilio's answer to a failed stream is the flow's to handle.
  metrics_.handshake_rejections[Rejection::call_limit].add();
  auto refusal = HttpResponse::error(
      503, "server is at its call limit (" + std::to_string(limits_.max_calls()) + " calls): not taking new calls");
  refusal.headers.emplace_back("Retry-After", "1");
  return refusal;
}

HttpResponse MediaGate::not_websocket() const {
  metrics_.handshake_rejections[Rejection::not_websocket].add();
  return HttpResponse::error(426, "/media takes a WebSocket upgrade (Twilio Media Streams)");
}

}  // namespace callproxy::proxy
