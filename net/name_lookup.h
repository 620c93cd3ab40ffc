// Host names looked up off the event loops, so that one slow lookup (a name server that never
// answers) holds up no other. Asio's resolver runs an io_context's lookups one at a time on one
// thread of its own: there a silent name server stalled every later lookup of that loop, numeric
// addresses included (a call's other backends, the identity API), past their deadlines, and held
// up the loop's destruction for as long as getaddrinfo waited. Here a numeric address needs no
// lookup, and each name gets a thread of its own: the caller's deadline answers for the lookup
// (it cancels it), and the thread ends when getaddrinfo gives up. At most max_name_lookups run at
// once; one more fails at once. For the networking sources only (it names Asio types).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace callproxy::net {

using LookupDone = std::function<void(boost::system::error_code, std::vector<boost::asio::ip::tcp::endpoint>)>;

inline constexpr int max_name_lookups = 64;

// One lookup under way; whoever started it may cancel it (and must, before the executor's
// io_context is destroyed: cancelling is what lets that happen while getaddrinfo still waits).
class NameLookup {
 public:
  NameLookup(boost::asio::any_io_executor executor, LookupDone done)
      : executor_(std::move(executor)), done_(std::move(done)) {}
  // After this returns, `done` never runs and the executor is no longer touched.
  void cancel();
  // From the lookup's thread: `done` with the outcome, on the executor, unless cancelled.
  void deliver(boost::system::error_code ec, std::vector<boost::asio::ip::tcp::endpoint> endpoints);

 private:
  std::mutex mutex_;
  boost::asio::any_io_executor executor_;
  LookupDone done_;  // empty once delivered or cancelled
};

// Resolves `host` for TCP to `port`; `done` runs once on `executor` unless the lookup returned is
// cancelled first.
std::shared_ptr<NameLookup> lookup_name(const boost::asio::any_io_executor& executor, const std::string& host,
                                        std::uint16_t port, LookupDone done);

}  // namespace callproxy::net
