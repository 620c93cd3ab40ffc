#include "net/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace callproxy::net {
namespace {

// What the kernel lets one process open at most; an unlimited hard limit cannot be set as the
// soft one, this can.
std::uint64_t kernel_cap() {
  std::ifstream in("/proc/sys/fs/nr_open");
  std::uint64_t cap = 0;
  if (in >> cap && cap > 0) return cap;
  return 1U << 20;
}

}  // namespace

FdLimit raise_fd_limit() {
  FdLimit out;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.error = std::string("getrlimit: ") + std::strerror(errno);  // NOLINT(concurrency-mt-unsafe): at start
    return out;
  }
  const auto hard = limit.rlim_max == RLIM_INFINITY ? kernel_cap() : static_cast<std::uint64_t>(limit.rlim_max);
  out.soft_before = limit.rlim_cur == RLIM_INFINITY ? hard : static_cast<std::uint64_t>(limit.rlim_cur);
  out.soft = out.soft_before;
  out.hard = hard;
  if (out.soft >= hard) return out;
  limit.rlim_cur = static_cast<rlim_t>(hard);
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.error = std::string("setrlimit: ") + std::strerror(errno);  // NOLINT(concurrency-mt-unsafe): at start
    return out;
  }
  out.soft = hard;
  return out;
}

}  // namespace callproxy::net
