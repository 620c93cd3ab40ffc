// HTTP routing for serve, free of Beast: requests and responses as plain values, handlers that
// answer through a callback so they may finish asynchronously (a store lookup, a PIN API call).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace callproxy::proxy {

struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const;
  using is_transparent = void;
};

struct HttpRequest {
  std::string method;  // upper case, as on the wire
  std::string target;  // path and query as the request line had them
  std::map<std::string, std::string, CaseInsensitiveLess> headers;
  std::string body;
  std::string remote_address;  // the connection's peer (IPv4 or IPv6), never a header's claim
  std::string request_id;      // X-Request-Id: the client's when sane, else made here (request_id_for)

  std::string_view path() const;                    // target up to '?'
  std::string_view query() const;                   // after '?', empty if none
  std::string header(std::string_view name) const;  // empty if absent
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse text(int status, std::string body);
  static HttpResponse json(int status, std::string body);
  // {"message": "..."}: how every error is reported to API clients.
  static HttpResponse error(int status, std::string_view message);
};

// The X-Request-Id a response carries: the request's own when it is sane (1 to 128 characters of
// A-Z a-z 0-9 - _ . : + / =, what UUIDs, hex ids and load balancers' trace ids use), else a new
// random one (32 hex digits). Whatever a client sent otherwise never reaches a log line.
inline constexpr std::size_t max_request_id_bytes = 128;
std::string request_id_for(std::string_view incoming);

// Longest value a ":name" segment may capture (URL-decoded); longer is answered 400 before any
// handler runs. Identifiers in paths (caller IDs, execution SIDs) are far shorter, and they become
// store keys and log text.
inline constexpr std::size_t max_path_param_bytes = 128;

// Values captured by ":name" segments of a route pattern, URL-decoded.
using RouteParams = std::map<std::string, std::string, std::less<>>;
using Respond = std::function<void(HttpResponse)>;
using Handler = std::function<void(const HttpRequest&, const RouteParams&, Respond)>;

class Router {
 public:
  // `pattern` is a path such as "/executions/:id/connected".
  void add(std::string method, std::string_view pattern, Handler handler);

  // Finds the route and calls its handler; 404 when no pattern matches the path, 405 (with an
  // Allow header) when patterns match but not for this method. A handler that throws (a bug) is
  // logged once with the request's method, path, id and peer, and answered 500.
  void dispatch(const HttpRequest& request, Respond respond) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace callproxy::proxy
