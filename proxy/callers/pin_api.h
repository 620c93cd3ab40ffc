// The remote identity API the Node service asks for PINs (SERVER_API_HOST): POST {"pin"} to
// <URL>/identity-api/pin, expecting {"authenticated","backendIds","backendHosts"}.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace callproxy::proxy {

struct PinApiAnswer {
  enum class Outcome {
    authenticated,  // 2xx with authenticated:true
    rejected,       // 2xx with authenticated:false, or any 4xx: a wrong PIN
    unavailable,    // 5xx, timeout, connection failure, garbage: the check could not be made
  };
  Outcome outcome = Outcome::unavailable;
  std::string backend_ids;    // JSON text of the list
  std::string backend_hosts;  // JSON text of the list
  std::string error;          // for unavailable: why (never contains the PIN)
};

class PinApi {
 public:
  // Throws std::invalid_argument when `base_url` is not an http:// or https:// URL.
  PinApi(boost::asio::io_context& loop, const std::string& base_url, std::chrono::milliseconds timeout);
  ~PinApi();
  // Asks the API; `done` runs on the API's loop.
  void check(const std::string& pin, std::function<void(PinApiAnswer)> done);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace callproxy::proxy
