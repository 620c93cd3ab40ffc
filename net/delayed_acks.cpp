#include "net/delayed_acks.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace callproxy::net {

bool prefer_delayed_acks(int fd) noexcept {
  const int off = 0;
  return ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off) == 0;
}

bool acks_at_once(int fd) noexcept {
  int on = 0;
  socklen_t size = sizeof on;
  return ::getsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, &size) == 0 && on != 0;
}

}  // namespace callproxy::net
