// The kernel's floor for relaying a call: a single-threaded epoll TCP relay. Each accepted
// connection gets one connection to a fixed upstream (the bench's sink); bytes are copied both
// ways, one read in and one write out, without looking at them (the WebSocket handshake and
// frames pass through untouched). What it costs per forwarded frame is loopback TCP and the
// system calls, nothing else: the figure a proxy that parses and re-frames is measured against.
//
//   floor-tcp-relay --upstream 127.0.0.1:PORT [--port 0]
//   prints "floor-tcp-relay listening on 127.0.0.1:PORT" on stderr once it accepts
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t stopping = 0;

// One direction of a pair: bytes read from `from` that `to` would not take yet wait in `pending`
// (and `from` is not read again until they are written: back-pressure, as a relay must).
struct Side {
  int fd = -1;
  int peer = -1;  // index of the other side
  std::vector<char> pending;
  bool open = false;
};

std::vector<Side> sides;
std::vector<int> free_slots;
int epfd = -1;
char buffer[256 * 1024];

void watch(int index, std::uint32_t events, int op) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u32 = static_cast<std::uint32_t>(index);
  epoll_ctl(epfd, op, sides[index].fd, &ev);
}

int new_side(int fd) {
  int index = 0;
  if (!free_slots.empty()) {
    index = free_slots.back();
    free_slots.pop_back();
  } else {
    index = static_cast<int>(sides.size());
    sides.emplace_back();
  }
  sides[index] = Side{};
  sides[index].fd = fd;
  sides[index].open = true;
  return index;
}

void close_pair(int index) {
  for (const int i : {index, sides[index].peer}) {
    if (i < 0 || !sides[i].open) continue;
    epoll_ctl(epfd, EPOLL_CTL_DEL, sides[i].fd, nullptr);
    close(sides[i].fd);
    sides[i].open = false;
    sides[i].pending.clear();
    free_slots.push_back(i);
  }
}

void set_nodelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 0, upstream_port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--port") {
      port = static_cast<std::uint16_t>(std::atoi(v.c_str()));
    } else if (a == "--upstream") {
      // Loopback only: the bench never talks to anything else.
      if (v.rfind("127.0.0.1:", 0) != 0) {
        std::fprintf(stderr, "floor-tcp-relay: --upstream must be 127.0.0.1:PORT\n");
        return 2;
      }
      upstream_port = static_cast<std::uint16_t>(std::atoi(v.c_str() + 10));
    } else {
      std::fprintf(stderr, "usage: floor-tcp-relay --upstream 127.0.0.1:PORT [--port 0]\n");
      return 2;
    }
  }
  if (upstream_port == 0) {
    std::fprintf(stderr, "usage: floor-tcp-relay --upstream 127.0.0.1:PORT [--port 0]\n");
    return 2;
  }
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = [](int) { stopping = 1; };
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener, 65535) != 0) {
    std::fprintf(stderr, "floor-tcp-relay: cannot listen: %s\n", std::strerror(errno));
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.u32 = UINT32_MAX;
  epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &lev);
  std::fprintf(stderr, "floor-tcp-relay listening on 127.0.0.1:%u (upstream 127.0.0.1:%u)\n", ntohs(addr.sin_port),
               upstream_port);

  sockaddr_in up{};
  up.sin_family = AF_INET;
  up.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  up.sin_port = htons(upstream_port);
  epoll_event events[512];
  while (!stopping) {
    const int n = epoll_wait(epfd, events, 512, -1);
    for (int e = 0; e < n; ++e) {
      const std::uint32_t id = events[e].data.u32;
      if (id == UINT32_MAX) {
        for (;;) {
          const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          const int ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
          if (ufd < 0 || (connect(ufd, reinterpret_cast<sockaddr*>(&up), sizeof up) != 0 && errno != EINPROGRESS)) {
            close(fd);
            if (ufd >= 0) close(ufd);
            continue;
          }
          set_nodelay(fd);
          set_nodelay(ufd);
          const int a = new_side(fd);
          const int b = new_side(ufd);
          sides[a].peer = b;
          sides[b].peer = a;
          watch(a, EPOLLIN, EPOLL_CTL_ADD);
          // The upstream is readable once connected; what the caller sends before that waits in
          // its socket (EPOLLOUT on the upstream means connected; pending bytes are then written).
          watch(b, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
        }
        continue;
      }
      const int i = static_cast<int>(id);
      if (!sides[i].open) continue;
      const int p = sides[i].peer;
      if (events[e].events & EPOLLOUT) {
        // `i` can take bytes again: write what its peer left pending, then read the peer again.
        Side& peer = sides[p];
        if (!peer.pending.empty()) {
          const ssize_t w = send(sides[i].fd, peer.pending.data(), peer.pending.size(), MSG_NOSIGNAL);
          if (w < 0 && errno != EAGAIN) {
            close_pair(i);
            continue;
          }
          if (w > 0) peer.pending.erase(peer.pending.begin(), peer.pending.begin() + w);
        }
        if (peer.pending.empty()) {
          watch(i, EPOLLIN, EPOLL_CTL_MOD);
          watch(p, EPOLLIN, EPOLL_CTL_MOD);
        }
      }
      if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (!sides[p].open) continue;
        if (!sides[i].pending.empty()) {
          if (events[e].events & (EPOLLHUP | EPOLLERR)) close_pair(i);
          continue;
        }
        const ssize_t r = recv(sides[i].fd, buffer, sizeof buffer, 0);
        if (r < 0 && errno == EAGAIN) continue;
        if (r <= 0) {
          close_pair(i);
          continue;
        }
        const ssize_t w = send(sides[p].fd, buffer, static_cast<std::size_t>(r), MSG_NOSIGNAL);
        if (w == r) continue;
        if (w < 0 && errno != EAGAIN && errno != ENOTCONN) {
          close_pair(i);
          continue;
        }
        // Short write (or the upstream still connecting): hold the rest, stop reading `i`.
        const std::size_t done = w > 0 ? static_cast<std::size_t>(w) : 0;
        sides[i].pending.assign(buffer + done, buffer + r);
        watch(i, 0, EPOLL_CTL_MOD);
        watch(p, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
      }
    }
  }
  return 0;
}
