#include "net/source_key.h"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace callproxy::net {

std::string source_key(std::string_view address) {
  std::string text(address);
  in6_addr v6{};
  if (text.find(':') == std::string::npos || ::inet_pton(AF_INET6, text.c_str(), &v6) != 1) return text;
  for (std::size_t i = 8; i < 16; ++i) v6.s6_addr[i] = 0;
  char out[INET6_ADDRSTRLEN] = {};
  if (!::inet_ntop(AF_INET6, &v6, out, sizeof out)) return text;
  return std::string(out) + "/64";
}

}  // namespace callproxy::net
