// What the kernel charges for the pieces of a forwarded frame, each measured alone on this
// machine, in CPU time (this process's, all of it: the loopback receive path runs inside the send):
//   - a system call's entry and exit (getppid through syscall(2), so nothing caches it);
//   - one message of a frame's size sent on one socket and read from its peer: over loopback TCP
//     (TCP_NODELAY, as serve's sockets), and over a Unix stream socket.
// A frame through the TCP floor relay is two such TCP messages (in, out) plus a wake-up. The
// figures bound what is left below the floor (bench/README.md): batching system calls (io_uring)
// can save at most their entries; a `unix:` backend would replace one of the two TCP messages.
//
//   kernel-costs [--messages N] [--size BYTES]      prints one JSON line
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

// A connected loopback TCP pair, TCP_NODELAY on both ends.
void tcp_pair(int& a, int& b) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  check(listener >= 0, "socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  check(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0, "bind");
  check(listen(listener, 1) == 0, "listen");
  socklen_t size = sizeof address;
  check(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size) == 0, "getsockname");
  a = socket(AF_INET, SOCK_STREAM, 0);
  check(a >= 0, "socket");
  check(connect(a, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0, "connect");
  b = accept(listener, nullptr, nullptr);
  check(b >= 0, "accept");
  close(listener);
  const int one = 1;
  setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// CPU µs per message: `size` bytes sent on `a`, then read whole from `b`.
double message_us(int a, int b, std::size_t size, long messages) {
  std::vector<char> out(size, 'x'), in(size);
  const auto one = [&] {
    check(send(a, out.data(), size, MSG_NOSIGNAL) == static_cast<ssize_t>(size), "send");
    std::size_t got = 0;
    while (got < size) {
      const ssize_t n = recv(b, in.data() + got, size - got, 0);
      check(n > 0, "recv");
      got += static_cast<std::size_t>(n);
    }
  };
  for (long i = 0; i < messages / 10; ++i) one();  // warm up
  const double start = cpu_seconds();
  for (long i = 0; i < messages; ++i) one();
  return (cpu_seconds() - start) / static_cast<double>(messages) * 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  long messages = 200000;
  std::size_t size = 330;  // a Twilio media message with its WebSocket header
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--messages" && i + 1 < argc) {
      messages = std::strtol(argv[++i], nullptr, 10);
    } else if (arg == "--size" && i + 1 < argc) {
      size = std::strtoul(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: kernel-costs [--messages N] [--size BYTES]\n");
      return 2;
    }
  }
  if (messages < 10 || size == 0 || size > 65536) {
    std::fprintf(stderr, "kernel-costs: --messages must be >= 10 and --size 1..65536\n");
    return 2;
  }
  try {
    const double start = cpu_seconds();
    for (long i = 0; i < messages; ++i) syscall(SYS_getppid);
    const double syscall_ns = (cpu_seconds() - start) / static_cast<double>(messages) * 1e9;

    int a, b;
    tcp_pair(a, b);
    const double tcp = message_us(a, b, size, messages);
    close(a);
    close(b);

    int pair[2];
    check(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0, "socketpair");
    const double unix_stream = message_us(pair[0], pair[1], size, messages);
    close(pair[0]);
    close(pair[1]);

    std::printf("{\"tool\":\"kernel-costs\",\"messages\":%ld,\"size\":%zu,\"syscall_ns\":%.1f,"
                "\"tcp_message_us\":%.3f,\"unix_message_us\":%.3f}\n",
                messages, size, syscall_ns, tcp, unix_stream);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kernel-costs: %s\n", e.what());
    return 1;
  }
  return 0;
}
