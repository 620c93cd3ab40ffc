#include "proxy/http/status_routes.h"

namespace callproxy::proxy {

void add_status_routes(Router& router, const std::atomic<bool>& draining, const ServerMetrics& metrics,
                       StateStore& store) {
  // The Node service answers GET / with 200 "OK"; load balancers already probe it.
  router.add("GET", "/",
             [](const HttpRequest&, const RouteParams&, Respond respond) { respond(HttpResponse::text(200, "OK")); });
  router.add("GET", "/healthz", [](const HttpRequest&, const RouteParams&, Respond respond) {
    respond(HttpResponse::json(200, R"({"status":"alive"})"));
  });
  router.add("GET", "/readyz", [&draining](const HttpRequest&, const RouteParams&, Respond respond) {
    if (draining.load()) {
      respond(HttpResponse::json(503, R"({"status":"draining"})"));
    } else {
      respond(HttpResponse::json(200, R"({"status":"ready"})"));
    }
  });
  router.add("GET", "/metrics", [&metrics, &draining](const HttpRequest&, const RouteParams&, Respond respond) {
    // Readiness as /readyz answers it, for alerts on a pool with no instance taking calls.
    auto response = HttpResponse::text(200, metrics.render() +
                                                "# HELP callproxy_ready 1 while taking new calls, 0 while draining\n"
                                                "# TYPE callproxy_ready gauge\ncallproxy_ready " +
                                                (draining.load() ? "0" : "1") + "\n");
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    respond(std::move(response));
  });
  // The Studio flow polls this while the call should be streaming: 200 while the stream with
  // customParameters.executionId = :id is open, 410 once it is not.
  router.add("GET", "/executions/:id/connected",
             [&store](const HttpRequest&, const RouteParams& params, Respond respond) {
               store.is_connected(params.at("id"), [respond](StoreResult<bool> connected) {
                 if (!connected) {
                   respond(HttpResponse::error(503, "state store unavailable: " + connected.error()));
                 } else if (connected.value()) {
                   respond(HttpResponse::text(200, "OK"));
                 } else {
                   respond(HttpResponse::text(410, "Gone"));
                 }
               });
             });
}

}  // namespace callproxy::proxy
