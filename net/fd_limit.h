// The process's file descriptor limit (RLIMIT_NOFILE), raised to what it may be at start: every
// connection and backend link is a descriptor, and the soft limit (often 1024) is far below what
// the hard limit lets a server use.
#pragma once

#include <cstdint>
#include <string>

namespace callproxy::net {

struct FdLimit {
  std::uint64_t soft_before = 0;  // the soft limit the process started with
  std::uint64_t soft = 0;         // the soft limit now
  std::uint64_t hard = 0;         // RLIM_INFINITY shown as the kernel's per-process cap (fs.nr_open)
  std::string error;              // why it could not be raised (the limits are then as they were)
};

// Raises the soft limit to the hard one.
FdLimit raise_fd_limit();

}  // namespace callproxy::net
