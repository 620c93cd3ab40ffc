#include "core/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace callproxy {
namespace {

// What a file that is not a regular one is, in the words of the messages.
std::string what_it_is(mode_t mode) {
  if (S_ISFIFO(mode)) return "is a FIFO, not a regular file";
  if (S_ISCHR(mode)) return "is a character device, not a regular file";
  if (S_ISBLK(mode)) return "is a block device, not a regular file";
  if (S_ISDIR(mode)) return "is a directory, not a regular file";
  if (S_ISSOCK(mode)) return "is a socket, not a regular file";
  return "is not a regular file";
}

std::string cannot_open(int error) { return "cannot be opened: " + std::generic_category().message(error); }

// Closes the descriptor however the read ends.
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string size_text(std::size_t bytes) {
  constexpr std::size_t kib = 1024, mib = kib * 1024;
  if (bytes >= mib && bytes % mib == 0) return std::to_string(bytes / mib) + " MiB";
  if (bytes >= kib && bytes % kib == 0) return std::to_string(bytes / kib) + " KiB";
  return std::to_string(bytes) + " bytes";
}

Result<std::string> read_regular_file(const std::string& path, std::size_t max_bytes) {
  // O_NONBLOCK: the open of a FIFO returns at once instead of waiting for a writer (it changes
  // nothing for a regular file). O_NOCTTY: a terminal named here does not become serve's.
  const Descriptor file(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (file.get() < 0) {
    const int error = errno;
    // A socket cannot be opened at all (ENXIO): say what it is rather than "no such device".
    struct stat st {};
    if (error == ENXIO && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return Error{what_it_is(st.st_mode)};
    return Error{cannot_open(error)};
  }
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) return Error{cannot_open(errno)};
  if (!S_ISREG(st.st_mode)) return Error{what_it_is(st.st_mode)};
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size > max_bytes) {
    return Error{"is " + std::to_string(size) + " bytes, over the limit of " + size_text(max_bytes)};
  }
  // The size fstat gave may change while the file is read (a writer appends; /proc files say 0):
  // at most one byte past the limit is read, which is enough to refuse a file over it.
  std::string text;
  text.reserve(size);
  char buffer[16384];
  while (text.size() <= max_bytes) {
    const auto n = ::read(file.get(), buffer, std::min(sizeof buffer, max_bytes + 1 - text.size()));
    if (n == 0) return text;
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{"cannot be read: " + std::generic_category().message(errno)};
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return Error{"is over the limit of " + size_text(max_bytes)};
}

std::string not_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};  // nothing there (yet): whoever opens it says what is wrong
  return S_ISREG(st.st_mode) ? std::string() : what_it_is(st.st_mode);
}

}  // namespace callproxy
