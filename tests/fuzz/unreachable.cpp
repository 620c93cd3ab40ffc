// What the fuzz slice links but the targets never reach: the identity API client (the harnesses
// run without --pin-api) and the SQLite and Redis stores (they use the memory store). Defined here
// so that the fuzz build compiles none of their Asio/Beast code; reaching one is a harness bug.
#include <cstdio>
#include <cstdlib>

#include "proxy/callers/pin_api.h"
#include "proxy/store/state_store.h"

namespace callproxy::proxy {
namespace {
[[noreturn]] void unreachable(const char* what) {
  std::fprintf(stderr, "fuzz harness reached %s, which the fuzz build leaves out\n", what);
  std::abort();
}
}  // namespace

struct PinApi::Impl {};
PinApi::PinApi(boost::asio::io_context&, const std::string&, std::chrono::milliseconds) { unreachable("PinApi"); }
PinApi::~PinApi() = default;
void PinApi::check(const std::string&, std::function<void(PinApiAnswer)>) { unreachable("PinApi::check"); }

std::unique_ptr<StateStore> make_sqlite_store(const std::string&, const StoreLimits&) {
  unreachable("the SQLite store");
}
std::unique_ptr<StateStore> make_redis_store(const StoreSpec::Redis&, const StoreLimits&) {
  unreachable("the Redis store");
}

}  // namespace callproxy::proxy
