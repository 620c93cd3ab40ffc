#include "proxy/server.h"

namespace callproxy::proxy {

void add_health_routes(Router& router, const ServeState& state) {
  // The Node service answers GET / with 200 "OK"; load balancers already probe it.
  router.add("GET", "/", [](const HttpRequest&, const RouteParams&, Respond respond) {
    respond(HttpResponse::text(200, "OK"));
  });
  router.add("GET", "/healthz", [](const HttpRequest&, const RouteParams&, Respond respond) {
    respond(HttpResponse::json(200, R"({"status":"alive"})"));
  });
  router.add("GET", "/readyz", [&state](const HttpRequest&, const RouteParams&, Respond respond) {
    if (state.draining.load()) {
      respond(HttpResponse::json(503, R"({"status":"draining"})"));
    } else {
      respond(HttpResponse::json(200, R"({"status":"ready"})"));
    }
  });
}

}  // namespace callproxy::proxy
