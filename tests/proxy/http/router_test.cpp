#include <catch2/catch.hpp>

#include "proxy/http/router.h"

using namespace callproxy::proxy;

namespace {

HttpResponse dispatch(const Router& router, std::string method, std::string target) {
  HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  HttpResponse answer;
  bool answered = false;
  router.dispatch(request, [&](HttpResponse r) {
    answer = std::move(r);
    answered = true;
  });
  REQUIRE(answered);
  return answer;
}

Router sample_router() {
  Router router;
  router.add("GET", "/executions/:id/connected", [](const HttpRequest&, const RouteParams& p, Respond respond) {
    respond(HttpResponse::text(200, "id=" + p.at("id")));
  });
  router.add("DELETE", "/blocked-callers/:callerId", [](const HttpRequest&, const RouteParams& p, Respond respond) {
    respond(HttpResponse::text(204, p.at("callerId")));
  });
  router.add("GET", "/blocked-callers/:callerId", [](const HttpRequest& r, const RouteParams& p, Respond respond) {
    respond(HttpResponse::text(200, p.at("callerId") + "|" + std::string(r.query())));
  });
  return router;
}

}  // namespace

TEST_CASE("a route's :params are captured and URL-decoded", "[router]") {
  const auto router = sample_router();
  CHECK(dispatch(router, "GET", "/executions/FN42/connected").body == "id=FN42");
  CHECK(dispatch(router, "GET", "/blocked-callers/%2B15551234567?x=1").body == "+15551234567|x=1");
  CHECK(dispatch(router, "DELETE", "/blocked-callers/abc").status == 204);
}

TEST_CASE("unknown paths get 404 and known paths with the wrong method 405 with Allow", "[router]") {
  const auto router = sample_router();
  const auto missing = dispatch(router, "GET", "/nope");
  CHECK(missing.status == 404);
  CHECK(missing.body == R"({"message":"no route for /nope"})");
  CHECK(dispatch(router, "GET", "/executions//connected").status == 404);

  const auto wrong = dispatch(router, "PUT", "/blocked-callers/abc");
  CHECK(wrong.status == 405);
  REQUIRE(wrong.headers.size() == 1);
  CHECK(wrong.headers[0].first == "Allow");
  CHECK(wrong.headers[0].second == "DELETE, GET, HEAD");
}

TEST_CASE("HEAD is answered by the GET route, and a target that is not a path is a bad request", "[router]") {
  const auto router = sample_router();
  CHECK(dispatch(router, "HEAD", "/executions/1/connected").status == 200);
  CHECK(dispatch(router, "GET", "*").status == 400);
}

TEST_CASE("header lookup ignores case", "[router]") {
  HttpRequest request;
  request.headers.emplace("X-Twilio-Signature", "abc");
  CHECK(request.header("x-twilio-signature") == "abc");
  CHECK(request.header("missing").empty());
}

TEST_CASE("a path parameter longer than max_path_param_bytes is a 400 and no handler runs", "[router]") {
  const auto router = sample_router();
  const std::string longest(max_path_param_bytes, '7');
  CHECK(dispatch(router, "GET", "/blocked-callers/" + longest).body == longest + "|");
  const auto refused = dispatch(router, "GET", "/blocked-callers/" + longest + "7");
  CHECK(refused.status == 400);
  CHECK(refused.body == R"({"message":"path parameter 'callerId' is longer than 128 bytes"})");
  // Measured after decoding: 43 escaped bytes are 43 bytes.
  std::string escaped;
  for (int i = 0; i < 43; ++i) escaped += "%2B";
  CHECK(dispatch(router, "GET", "/executions/" + escaped + "/connected").status == 200);
}
