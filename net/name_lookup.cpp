#include "net/name_lookup.h"

#include <netdb.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>

namespace callproxy::net {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

std::atomic<int> lookups_under_way{0};

// getaddrinfo's failures as the error codes Asio's resolver gave for them (so their messages
// stay what they were).
error_code lookup_error(int eai) {
  switch (eai) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
      return asio::error::host_not_found;
    case EAI_AGAIN: return asio::error::host_not_found_try_again;
    case EAI_MEMORY: return asio::error::no_memory;
    case EAI_SERVICE: return asio::error::service_not_found;
    case EAI_FAMILY: return asio::error::address_family_not_supported;
    case EAI_SYSTEM: return {errno, boost::system::system_category()};
    default: return asio::error::no_recovery;
  }
}

// On the lookup's own thread: blocks for as long as the system's resolver takes.
void run_lookup(const std::shared_ptr<NameLookup>& lookup, const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;  // Asio's resolver's defaults
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  std::vector<tcp::endpoint> endpoints;
  for (auto* a = found; a; a = a->ai_next) {
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    tcp::endpoint endpoint;
    std::memcpy(endpoint.data(), a->ai_addr, a->ai_addrlen);
    endpoint.resize(a->ai_addrlen);
    endpoints.push_back(endpoint);
  }
  if (found) ::freeaddrinfo(found);
  error_code ec = rc == 0 ? error_code() : lookup_error(rc);
  if (!ec && endpoints.empty()) ec = asio::error::host_not_found;
  lookup->deliver(ec, std::move(endpoints));
}

}  // namespace

void NameLookup::cancel() {
  std::lock_guard lock(mutex_);
  done_ = nullptr;
}

void NameLookup::deliver(error_code ec, std::vector<tcp::endpoint> endpoints) {
  std::lock_guard lock(mutex_);  // held while posting: cancel() waits for it, so the executor is alive
  if (!done_) return;
  asio::post(executor_, [done = std::move(done_), ec, endpoints = std::move(endpoints)]() mutable {
    done(ec, std::move(endpoints));
  });
  done_ = nullptr;
}

std::shared_ptr<NameLookup> lookup_name(const asio::any_io_executor& executor, const std::string& host,
                                        std::uint16_t port, LookupDone done) {
  auto lookup = std::make_shared<NameLookup>(executor, std::move(done));
  // A numeric address: nothing to look up.
  error_code parse_error;
  const auto address = asio::ip::make_address(host, parse_error);
  if (!parse_error) {
    lookup->deliver({}, {tcp::endpoint(address, port)});
    return lookup;
  }
  if (lookups_under_way.fetch_add(1) >= max_name_lookups) {
    lookups_under_way.fetch_sub(1);
    lookup->deliver(make_error_code(boost::system::errc::resource_unavailable_try_again), {});
    return lookup;
  }
  try {
    std::thread([lookup, host, port] {
      run_lookup(lookup, host, port);
      lookups_under_way.fetch_sub(1);
    }).detach();
  } catch (const std::system_error& e) {
    lookups_under_way.fetch_sub(1);
    lookup->deliver(e.code(), {});
  }
  return lookup;
}

}  // namespace callproxy::net
