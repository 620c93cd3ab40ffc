#include "proxy/http/router.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/ascii_case.h"
#include "core/json_text.h"
#include "core/random_hex.h"
#include "twilio/percent_encoding.h"

namespace callproxy::proxy {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 1;  // paths start with '/'
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Whether an Allow list ("GET, HEAD, POST") names `method`.
bool allows(std::string_view list, std::string_view method) {
  std::size_t start = 0;
  while (start <= list.size()) {
    auto end = list.find(", ", start);
    if (end == std::string_view::npos) end = list.size();
    if (list.substr(start, end - start) == method) return true;
    start = end + 2;
  }
  return false;
}

}  // namespace

std::string request_id_for(std::string_view incoming) {
  const bool sane = !incoming.empty() && incoming.size() <= max_request_id_bytes &&
                    std::all_of(incoming.begin(), incoming.end(), [](char c) {
                      return std::isalnum(static_cast<unsigned char>(c)) ||
                             std::string_view("-_.:+/=").find(c) != std::string_view::npos;
                    });
  return sane ? std::string(incoming) : random_hex(32);
}

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return static_cast<unsigned char>(lower_ascii(x)) < static_cast<unsigned char>(lower_ascii(y));
  });
}

std::string_view HttpRequest::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view HttpRequest::query() const {
  std::string_view t = target;
  const auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

std::string HttpRequest::header(std::string_view name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string{} : it->second;
}

HttpResponse HttpResponse::text(int status, std::string body) {
  return HttpResponse{status, "text/plain; charset=utf-8", std::move(body), {}};
}

HttpResponse HttpResponse::json(int status, std::string body) {
  return HttpResponse{status, "application/json; charset=utf-8", std::move(body), {}};
}

HttpResponse HttpResponse::error(int status, std::string_view message) {
  // Replace rather than throw: a message may quote a request target holding any bytes.
  return json(status, dump_json(nlohmann::json{{"message", message}}));
}

void Router::add(std::string method, std::string_view pattern, Handler handler) {
  std::vector<std::string> segments;
  for (const auto s : split_path(pattern)) segments.emplace_back(s);
  routes_.push_back(Route{std::move(method), std::move(segments), std::move(handler)});
}

void Router::dispatch(const HttpRequest& request, Respond respond) const {
  const auto path = request.path();
  if (path.empty() || path.front() != '/') {
    respond(HttpResponse::error(400, "request target must be an absolute path"));
    return;
  }
  const auto segments = split_path(path);
  std::string allowed;
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    RouteParams params;
    bool match = true;
    for (std::size_t i = 0; i < segments.size() && match; ++i) {
      const auto& want = route.segments[i];
      if (!want.empty() && want.front() == ':') {
        if (segments[i].empty()) match = false;
        else params.emplace(want.substr(1), twilio::percent_decode(segments[i], /*plus_is_space=*/false));
      } else {
        match = want == segments[i];
      }
    }
    if (!match) continue;
    const bool method_ok = route.method == request.method || (request.method == "HEAD" && route.method == "GET");
    if (method_ok) {
      for (const auto& [name, value] : params) {
        if (value.size() > max_path_param_bytes) {
          respond(HttpResponse::error(
              400, "path parameter '" + name + "' is longer than " + std::to_string(max_path_param_bytes) + " bytes"));
          return;
        }
      }
      try {
        route.handler(request, params, respond);
      } catch (const std::exception& e) {
        // A bug, not the client's doing: one line with what is needed to find the request.
        spdlog::error("http: {} {} (request {}, peer {}) failed: {}", request.method, std::string(path),
                      request.request_id, request.remote_address, e.what());
        respond(HttpResponse::json(
            500, dump_json(nlohmann::json{{"message", "internal error"}, {"requestId", request.request_id}})));
      }
      return;
    }
    // A GET route answers HEAD too, and says so.
    for (const auto& method :
         route.method == "GET" ? std::vector<std::string>{"GET", "HEAD"} : std::vector<std::string>{route.method}) {
      if (!allows(allowed, method)) allowed += (allowed.empty() ? "" : ", ") + method;
    }
  }
  if (allowed.empty()) {
    respond(HttpResponse::error(404, "no route for " + std::string(path)));
    return;
  }
  auto response = HttpResponse::error(
      405, request.method + " is not allowed on " + std::string(path) + " (allowed: " + allowed + ")");
  response.headers.emplace_back("Allow", allowed);
  respond(std::move(response));
}

}  // namespace callproxy::proxy
