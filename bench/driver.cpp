// callproxy-bench: plays Twilio's side of N real-time calls into a proxy and the backends' side
// (K per call) behind it, in one single-threaded epoll loop, and prints one JSON line of figures.
//
//   callproxy-bench drive [options] -- TARGET COMMAND...   start the target ("{sink}" in its
//                                                          arguments becomes the sink's port)
//   callproxy-bench drive --pid PID --url ws://127.0.0.1:P/media --sink-port S [options]
//   callproxy-bench sink --port S [--pid PID] [options]    the sink alone, counting whatever
//                                                          arrives (for a cross-check against
//                                                          another client)
//
// Each media frame's 160 bytes carry a magic, the call index, the sequence number and the send
// time (CLOCK_MONOTONIC ns), so the sink knows every frame it receives: lost, duplicated,
// out-of-order, and one-way latency from the driver's send to the sink's kernel receive
// timestamp (SO_TIMESTAMPNS, so a busy driver loop does not inflate it). The target's CPU
// (utime+stime) and RSS are read from /proc at the start and end of a steady window.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <queue>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "bench/bench_util.h"
#include "bench/flood.h"

namespace callproxy::bench {
namespace {

constexpr std::int64_t frame_ns = 20'000'000;      // 20 ms
constexpr std::size_t frame_bytes = 160;           // 20 ms of 8 kHz mu-law
constexpr std::uint32_t frame_magic = 0x314E4250;  // "PBN1"
constexpr std::size_t frame_header_bytes = 20;     // magic, call, seq, send time

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "callproxy-bench: %s\n", why.c_str());
  std::exit(2);
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

void set_nodelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// The filler after the 20-byte header: fixed, so the sink can tell a damaged frame.
struct Filler {
  std::uint8_t bytes[frame_bytes - frame_header_bytes];
  Filler() {
    for (std::size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<std::uint8_t>(0xFF ^ (i * 7));
  }
};
const Filler filler;

// ---- options ---------------------------------------------------------------------------------
struct Options {
  std::string mode;
  std::string label = "target";
  std::string url;  // ws://127.0.0.1:PORT/path (with --pid)
  std::string path = "/media";
  pid_t pid = 0;
  std::vector<std::string> target_command;
  std::string target_log;
  int calls = 100;
  int backends = 1;
  std::string format = "simple";
  // Audio shapes (docs/serve.md): backend b's entry gets '#' and the b-th of these (';'-separated,
  // cycling; empty: Twilio's own shape); and one more entry for every call (record:).
  std::vector<std::string> backend_options;
  std::string extra_backend;
  double ramp_s = 0.02;
  double spread_s = 0.02;
  double warmup_s = 3;
  double window_s = 10;
  double tail_s = 1;
  long frames = 0;  // per call; 0 = from ramp + warmup + window + tail
  double drain_s = 5;
  double start_timeout_s = 60;
  double linger_s = 60;
  double settle_s = 0.3;
  std::uint16_t sink_port = 0;
  std::string sink_socket;  // the sink listens on this Unix socket instead (unix: backends)
  bool check = false;
  bool kernel_timestamps = true;
  int flood = 0;  // peers flooding the target alongside the calls (bench/flood.h)
  std::string flood_kind = "fragments";
};

void usage() {
  std::fputs(
      "usage: callproxy-bench drive [options] -- TARGET COMMAND...   ({sink} in it: the sink's port)\n"
      "       callproxy-bench drive --pid PID --url ws://127.0.0.1:PORT/media --sink-port S [options]\n"
      "       callproxy-bench sink (--port S | --sink-socket PATH) [--pid PID] [--warmup S] [--window S] [--label L]\n"
      "drive options:\n"
      "  --calls N (100)       concurrent calls, started evenly over --ramp\n"
      "  --backends K (1)      backends per call: the sink named K times (paths /b0../bK-1)\n"
      "  --format F (simple)   the target's backend format (recorded; the sink reads both)\n"
      "  --backend-options A;B  audio shapes: backend b's entry gets #A, #B, ... (cycling); the sink\n"
      "                        then counts media messages (binary ones too) instead of checking them\n"
      "  --extra-backend E     one more entry in every call's backendHosts (record:)\n"
      "  --ramp S (0.02)       seconds over which calls connect (their frames stay spread evenly\n"
      "                        over each 20 ms whatever the ramp)\n"
      "  --spread S (0.02)     the calls' frames are spread evenly over S of each 20 ms (0: all\n"
      "                        calls send at the same instant, as client-test's calls nearly do)\n"
      "  --warmup S (3)        seconds after the ramp before the window opens\n"
      "  --window S (10)       seconds of the steady window (CPU, RSS, latency are measured in it)\n"
      "  --tail S (1)          seconds calls go on after the window\n"
      "  --frames N            media frames per call (overrides the timing above)\n"
      "  --path P (/media)     the target's WebSocket path (spawned target)\n"
      "  --label L             names the target in the JSON\n"
      "  --target-log FILE     the spawned target's stdout+stderr (default: discarded)\n"
      "  --sink-port S (0)     the sink's port (0: any free one)\n"
      "  --sink-socket PATH    the sink listens on this Unix socket instead, and the calls name it\n"
      "                        as unix:PATH:/bK (serve needs --backend-allow unix:FOLDER)\n"
      "  --drain S (5)         seconds to wait after the last stop for frames still in flight\n"
      "  --start-timeout S (60) seconds for a spawned target to accept connections\n"
      "  --settle S (0.3)      seconds the target idles before its idle RSS is read\n"
      "  --flood N (0)         N more peers flood the target's WebSocket path with tiny frames from\n"
      "                        the calls' start to the window's end, reconnecting when closed;\n"
      "                        /healthz is timed every 50 ms meanwhile (the fairness row)\n"
      "  --flood-kind K        fragments (an endless message of empty fragments, the default)\n"
      "                        or pings (empty pings, their pongs read and dropped)\n"
      "  --check               exit 1 unless every call streamed and no frame was lost,\n"
      "                        duplicated, reordered or damaged\n"
      "  --no-kernel-timestamps  stamp receipt in user space instead of SO_TIMESTAMPNS\n",
      stderr);
}

double parse_double(const std::string& s, const char* flag) {
  try {
    std::size_t used = 0;
    const double v = std::stod(s, &used);
    if (used == s.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  die(std::string("bad value for ") + flag + ": " + s);
}

long parse_long(const std::string& s, const char* flag) {
  long v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < 0) die(std::string("bad value for ") + flag + ": " + s);
  return v;
}

Options parse_options(int argc, char** argv) {
  Options o;
  if (argc < 2) {
    usage();
    std::exit(2);
  }
  o.mode = argv[1];
  if (o.mode == "-h" || o.mode == "--help") {
    usage();
    std::exit(0);
  }
  if (o.mode != "drive" && o.mode != "sink") die("unknown mode '" + o.mode + "' (drive or sink)");
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) o.target_command.emplace_back(argv[i]);
      break;
    }
    if (a == "--check") {
      o.check = true;
      continue;
    }
    if (a == "--no-kernel-timestamps") {
      o.kernel_timestamps = false;
      continue;
    }
    if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    }
    if (i + 1 >= argc) die("missing value for " + a);
    const std::string v = argv[++i];
    if (a == "--calls") o.calls = static_cast<int>(parse_long(v, "--calls"));
    else if (a == "--backends") o.backends = static_cast<int>(parse_long(v, "--backends"));
    else if (a == "--format") o.format = v;
    else if (a == "--backend-options") {
      for (std::size_t at = 0; at <= v.size();) {
        const auto semi = std::min(v.find(';', at), v.size());
        o.backend_options.push_back(v.substr(at, semi - at));
        at = semi + 1;
      }
    } else if (a == "--extra-backend") o.extra_backend = v;
    else if (a == "--ramp") o.ramp_s = parse_double(v, "--ramp");
    else if (a == "--spread") o.spread_s = std::min(0.02, parse_double(v, "--spread"));
    else if (a == "--warmup") o.warmup_s = parse_double(v, "--warmup");
    else if (a == "--window") o.window_s = parse_double(v, "--window");
    else if (a == "--tail") o.tail_s = parse_double(v, "--tail");
    else if (a == "--frames") o.frames = parse_long(v, "--frames");
    else if (a == "--path") o.path = v;
    else if (a == "--label") o.label = v;
    else if (a == "--flood") o.flood = static_cast<int>(parse_long(v, "--flood"));
    else if (a == "--flood-kind") o.flood_kind = v;
    else if (a == "--url") o.url = v;
    else if (a == "--pid") o.pid = static_cast<pid_t>(parse_long(v, "--pid"));
    else if (a == "--target-log") o.target_log = v;
    else if (a == "--sink-socket") o.sink_socket = v;
    else if (a == "--sink-port" || a == "--port") o.sink_port = static_cast<std::uint16_t>(parse_long(v, "--port"));
    else if (a == "--drain") o.drain_s = parse_double(v, "--drain");
    else if (a == "--start-timeout") o.start_timeout_s = parse_double(v, "--start-timeout");
    else if (a == "--linger") o.linger_s = parse_double(v, "--linger");
    else if (a == "--settle") o.settle_s = parse_double(v, "--settle");
    else die("unknown option " + a);
  }
  if (o.mode == "drive") {
    if (o.target_command.empty() == (o.pid == 0)) die("drive needs either a target command after -- or --pid");
    if (o.flood_kind != "fragments" && o.flood_kind != "pings") die("--flood-kind is fragments or pings");
    if (o.pid != 0 && o.url.empty()) die("--pid needs --url");
    if (o.calls < 1 || o.backends < 1 || o.backends > 64) die("--calls must be >= 1 and --backends 1..64");
    if (o.format != "simple" && o.format != "twilio") die("--format must be simple or twilio");
  }
  return o;
}

// ws://127.0.0.1:PORT/path -> port and path; loopback only.
void parse_url(const std::string& url, std::uint16_t& port, std::string& path) {
  const std::string prefix = "ws://";
  if (url.rfind(prefix, 0) != 0) die("--url must be ws://127.0.0.1:PORT/path");
  const std::string rest = url.substr(prefix.size());
  const auto slash = rest.find('/');
  const std::string hostport = rest.substr(0, slash);
  path = slash == std::string::npos ? "/" : rest.substr(slash);
  const auto colon = hostport.rfind(':');
  if (colon == std::string::npos || hostport.substr(0, colon) != "127.0.0.1") {
    die("--url must name 127.0.0.1 (the bench talks to loopback only)");
  }
  port = static_cast<std::uint16_t>(parse_long(hostport.substr(colon + 1), "--url port"));
}

// ---- the event loop ----------------------------------------------------------------------------
enum class Kind : std::uint32_t { sink_listener = 1, sink_conn, call, target_output };
constexpr std::uint64_t tag(Kind k, std::uint32_t index) { return (std::uint64_t(k) << 32) | index; }

class Loop {
 public:
  Loop() : fd_(epoll_create1(EPOLL_CLOEXEC)) {
    if (fd_ < 0) die("epoll_create1 failed");
  }
  ~Loop() { close(fd_); }
  void add(int fd, std::uint32_t events, std::uint64_t data) { ctl(EPOLL_CTL_ADD, fd, events, data); }
  void modify(int fd, std::uint32_t events, std::uint64_t data) { ctl(EPOLL_CTL_MOD, fd, events, data); }
  void remove(int fd) { epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr); }
  // Waits until an event or `until_ns` (monotonic); returns the events.
  int wait(std::int64_t until_ns, epoll_event* events, int max) {
    const std::int64_t left = std::max<std::int64_t>(0, until_ns - monotonic_ns());
    timespec ts{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
    const int n = epoll_pwait2(fd_, events, max, &ts, nullptr);
    return n < 0 ? 0 : n;
  }

 private:
  void ctl(int op, int fd, std::uint32_t events, std::uint64_t data) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    if (epoll_ctl(fd_, op, fd, &ev) != 0) die(std::string("epoll_ctl: ") + std::strerror(errno));
  }
  int fd_;
};

// ---- the sink: the backends' side ------------------------------------------------------------
struct StreamStats {
  std::vector<std::uint64_t> seen;  // one bit per sequence number
  std::uint32_t max_seq = 0;
  std::uint32_t unique = 0;
  bool any = false;
};

struct SinkConn {
  int fd = -1;
  int backend = -1;  // from the path /bK; -1 = not a known backend
  bool upgraded = false;
  bool closed = true;
  std::string in;
  std::string message;  // a fragmented message being assembled
  std::uint8_t message_opcode = 0;
  std::string out;  // what could not be written yet
};

struct Counters {
  std::uint64_t frames = 0;  // media messages (ours or not)
  std::uint64_t ours = 0;
  std::uint64_t foreign = 0;  // media whose payload is not one of the driver's frames
  std::uint64_t shaped = 0;   // binary media messages (an audio shape's raw frames)
  std::uint64_t duplicated = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t damaged = 0;
  std::uint64_t starts = 0;
  std::uint64_t stops = 0;
  std::uint64_t other = 0;
  std::uint64_t bad_frames = 0;  // WebSocket protocol errors
  std::uint64_t connections = 0;
};

class Sink {
 public:
  Sink(Loop& loop, int calls, int backends, std::uint32_t frames_per_call, bool kernel_timestamps)
      : loop_(loop),
        calls_(calls),
        backends_(backends),
        frames_per_call_(frames_per_call),
        kernel_timestamps_(kernel_timestamps),
        streams_(static_cast<std::size_t>(calls) * static_cast<std::size_t>(backends)),
        scratch_(256 * 1024) {
    // CLOCK_REALTIME (kernel receive timestamps) -> CLOCK_MONOTONIC (the driver's send stamps).
    std::int64_t best = INT64_MAX;
    for (int i = 0; i < 9; ++i) {
      const std::int64_t m1 = monotonic_ns();
      const std::int64_t r = realtime_ns();
      const std::int64_t m2 = monotonic_ns();
      if (m2 - m1 < best) {
        best = m2 - m1;
        realtime_to_monotonic_ = r - (m1 + m2) / 2;
      }
    }
  }

  std::uint16_t listen(std::uint16_t port) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    auto addr = loopback(port);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      die("sink cannot bind 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
    }
    ::listen(listener_, 65535);
    socklen_t len = sizeof addr;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    loop_.add(listener_, EPOLLIN, tag(Kind::sink_listener, 0));
    return ntohs(addr.sin_port);
  }

  // The same on a Unix socket (a file left there by an earlier run is replaced).
  void listen_unix(const std::string& path) {
    sockaddr_un addr{};
    if (path.empty() || path.size() >= sizeof addr.sun_path) die("--sink-socket: a path of 1-107 bytes");
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    struct stat existing {};
    if (::lstat(path.c_str(), &existing) == 0) {
      if (!S_ISSOCK(existing.st_mode)) die("--sink-socket " + path + ": a file that is no socket");
      ::unlink(path.c_str());
    }
    listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener_ < 0) die(std::string("sink cannot make a Unix socket: ") + std::strerror(errno));
    if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 65535) != 0) {
      die("sink cannot listen on unix:" + path + ": " + std::strerror(errno));
    }
    loop_.add(listener_, EPOLLIN, tag(Kind::sink_listener, 0));
    unix_ = true;
  }

  void on_accept() {
    for (;;) {
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      if (!unix_) set_nodelay(fd);
      if (kernel_timestamps_) {
        const int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
      }
      std::uint32_t index = 0;
      if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
      } else {
        index = static_cast<std::uint32_t>(conns_.size());
        conns_.emplace_back();
      }
      SinkConn& c = conns_[index];
      c = SinkConn{};
      c.fd = fd;
      c.closed = false;
      ++open_;
      ++counters.connections;
      loop_.add(fd, EPOLLIN, tag(Kind::sink_conn, index));
    }
  }

  void on_event(std::uint32_t index, std::uint32_t events) {
    SinkConn& c = conns_[index];
    if (c.closed) return;
    if (events & EPOLLOUT) flush(c, index);
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read(c, index);
  }

  // Window bookkeeping: frames received while `in_window` count and their latency is kept.
  bool in_window = false;
  std::uint64_t window_frames = 0;
  Histogram latency;
  Counters counters;
  std::int64_t first_frame_ns = 0;

  int open_connections() const { return open_; }
  std::uint64_t lost_total(const std::vector<std::uint32_t>& sent_per_call) const {
    std::uint64_t lost = 0;
    for (int call = 0; call < calls_; ++call) {
      for (int b = 0; b < backends_; ++b) {
        const auto& s = streams_[static_cast<std::size_t>(call) * backends_ + b];
        const std::uint32_t sent = sent_per_call[call];
        if (sent > s.unique) lost += sent - s.unique;
      }
    }
    return lost;
  }
  void close_all() {
    for (std::uint32_t i = 0; i < conns_.size(); ++i) {
      if (!conns_[i].closed) drop(conns_[i], i);
    }
  }

 private:
  void read(SinkConn& c, std::uint32_t index) {
    for (;;) {
      iovec iov{scratch_.data(), scratch_.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = recvmsg(c.fd, &msg, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n <= 0) return drop(c, index);
      std::int64_t rx_ns = 0;
      for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_TIMESTAMPNS) {
          timespec ts{};
          std::memcpy(&ts, CMSG_DATA(cm), sizeof ts);
          rx_ns = static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec - realtime_to_monotonic_;
        }
      }
      if (rx_ns == 0) rx_ns = monotonic_ns();
      c.in.append(scratch_.data(), static_cast<std::size_t>(n));
      if (!consume(c, index, rx_ns)) return;
      if (static_cast<std::size_t>(n) < scratch_.size()) return;
    }
  }

  // Handles what `c.in` holds; false when the connection was dropped.
  bool consume(SinkConn& c, std::uint32_t index, std::int64_t rx_ns) {
    std::size_t pos = 0;
    if (!c.upgraded) {
      const auto end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (c.in.size() > 16384) {
          drop(c, index);
          return false;
        }
        return true;
      }
      const std::string_view head(c.in.data(), end + 2);
      const auto sp1 = head.find(' ');
      const auto sp2 = head.find(' ', sp1 + 1);
      const std::string_view path = head.substr(sp1 + 1, sp2 - sp1 - 1);
      c.backend = 0;
      if (path.size() >= 3 && path[0] == '/' && path[1] == 'b') {
        int b = 0;
        const auto [p, ec] = std::from_chars(path.data() + 2, path.data() + path.size(), b);
        c.backend = (ec == std::errc{} && b < backends_) ? b : -1;
      }
      const auto key = http_header(head, "Sec-WebSocket-Key");
      if (key.empty()) {
        drop(c, index);
        return false;
      }
      const std::string reply =
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
          websocket_accept(key) + "\r\n\r\n";
      write(c, index, reply);
      c.upgraded = true;
      pos = end + 4;
    }
    for (;;) {
      FrameHeader h;
      const int r = parse_frame_header(reinterpret_cast<const std::uint8_t*>(c.in.data()) + pos, c.in.size() - pos, h);
      if (r < 0 || h.length > (16u << 20)) {
        ++counters.bad_frames;
        drop(c, index);
        return false;
      }
      if (r == 0 || c.in.size() - pos < h.header_bytes + h.length) break;
      auto* payload = reinterpret_cast<std::uint8_t*>(c.in.data()) + pos + h.header_bytes;
      const std::size_t length = static_cast<std::size_t>(h.length);
      if (h.masked) apply_mask(payload, length, h.mask);
      pos += h.header_bytes + length;
      const std::string_view data(reinterpret_cast<const char*>(payload), length);
      if (h.opcode == Opcode::close) {
        std::uint8_t frame[max_frame_header + 2];
        const std::size_t hl = write_frame_header(frame, Opcode::close, 2, nullptr);
        frame[hl] = 0x03;  // 1000
        frame[hl + 1] = 0xE8;
        write(c, index, std::string_view(reinterpret_cast<char*>(frame), hl + 2));
        shutdown(c.fd, SHUT_WR);
        continue;
      }
      if (h.opcode == Opcode::ping) {
        std::uint8_t frame[max_frame_header];
        const std::size_t hl = write_frame_header(frame, Opcode::pong, length, nullptr);
        write(c, index, std::string(reinterpret_cast<char*>(frame), hl) + std::string(data));
        continue;
      }
      if (h.opcode == Opcode::pong) continue;
      if (h.opcode != Opcode::continuation) {
        c.message_opcode = h.opcode;
        if (h.fin) {
          on_message(c, data, rx_ns);
          continue;
        }
        c.message.assign(data);
        continue;
      }
      c.message.append(data);
      if (h.fin) {
        on_message(c, c.message, rx_ns);
        c.message.clear();
      }
    }
    c.in.erase(0, pos);
    return true;
  }

  static std::string_view string_after(std::string_view text, std::string_view key) {
    const auto at = text.find(key);
    if (at == std::string_view::npos) return {};
    const auto start = at + key.size();
    const auto end = text.find('"', start);
    if (end == std::string_view::npos) return {};
    return text.substr(start, end - start);
  }

  void on_message(SinkConn& c, std::string_view text, std::int64_t rx_ns) {
    if (c.message_opcode == Opcode::binary) {  // an audio shape's raw frame (frames=binary)
      ++counters.frames;
      ++counters.shaped;
      if (first_frame_ns == 0) first_frame_ns = rx_ns;
      if (in_window) ++window_frames;
      return;
    }
    // Twilio's media message carries "payload"; the simple format "media":"<b64>".
    std::string_view b64 = string_after(text, "\"payload\":\"");
    if (b64.empty()) b64 = string_after(text, "\"media\":\"");
    if (b64.empty()) {
      if (text.find("\"event\":\"start\"") != std::string_view::npos) ++counters.starts;
      else if (text.find("\"event\":\"stop\"") != std::string_view::npos) ++counters.stops;
      else if (text.find("\"event\":\"connected\"") == std::string_view::npos) ++counters.other;
      return;
    }
    ++counters.frames;
    if (first_frame_ns == 0) first_frame_ns = rx_ns;
    if (in_window) ++window_frames;
    std::uint8_t raw[frame_bytes + 4];
    const auto n = base64_decode(b64, raw, sizeof raw);
    std::uint32_t magic = 0, call = 0, seq = 0;
    std::int64_t sent_ns = 0;
    if (n && *n == frame_bytes) {
      std::memcpy(&magic, raw, 4);
      std::memcpy(&call, raw + 4, 4);
      std::memcpy(&seq, raw + 8, 4);
      std::memcpy(&sent_ns, raw + 12, 8);
    }
    if (!n || *n != frame_bytes || magic != frame_magic || call >= static_cast<std::uint32_t>(calls_) ||
        c.backend < 0) {
      ++counters.foreign;
      return;
    }
    ++counters.ours;
    if (seq >= frames_per_call_ || std::memcmp(raw + frame_header_bytes, filler.bytes, sizeof filler.bytes) != 0) {
      ++counters.damaged;
      return;
    }
    if (in_window) latency.add(rx_ns - sent_ns);
    StreamStats& s = streams_[static_cast<std::size_t>(call) * backends_ + c.backend];
    if (s.seen.empty()) s.seen.assign((frames_per_call_ + 63) / 64, 0);
    std::uint64_t& word = s.seen[seq / 64];
    const std::uint64_t bit = std::uint64_t{1} << (seq % 64);
    if (word & bit) {
      ++counters.duplicated;
      return;
    }
    word |= bit;
    ++s.unique;
    if (s.any && seq < s.max_seq) ++counters.out_of_order;
    if (!s.any || seq > s.max_seq) s.max_seq = seq;
    s.any = true;
  }

  void write(SinkConn& c, std::uint32_t index, std::string_view bytes) {
    if (c.out.empty()) {
      const ssize_t n = send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n == static_cast<ssize_t>(bytes.size())) return;
      const std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
      if (n < 0 && errno != EAGAIN) return;
      c.out.assign(bytes.substr(done));
      loop_.modify(c.fd, EPOLLIN | EPOLLOUT, tag(Kind::sink_conn, index));
      return;
    }
    c.out.append(bytes);
  }

  void flush(SinkConn& c, std::uint32_t index) {
    const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) c.out.erase(0, static_cast<std::size_t>(n));
    if (c.out.empty()) loop_.modify(c.fd, EPOLLIN, tag(Kind::sink_conn, index));
  }

  void drop(SinkConn& c, std::uint32_t index) {
    loop_.remove(c.fd);
    close(c.fd);
    c.fd = -1;
    c.closed = true;
    c.in.clear();
    c.in.shrink_to_fit();
    c.out.clear();
    --open_;
    free_.push_back(index);
  }

  Loop& loop_;
  int listener_ = -1;
  int calls_;
  int backends_;
  std::uint32_t frames_per_call_;
  bool kernel_timestamps_;
  bool unix_ = false;  // listening on a Unix socket
  std::int64_t realtime_to_monotonic_ = 0;
  std::vector<StreamStats> streams_;
  std::vector<SinkConn> conns_;
  std::vector<std::uint32_t> free_;
  int open_ = 0;
  std::vector<char> scratch_;
};

// ---- the spawned target ---------------------------------------------------------------------------
struct Target {
  pid_t pid = 0;
  bool spawned = false;
  int output = -1;  // its stdout+stderr
  FILE* log = nullptr;
  std::string seen;  // output until the port was found
  std::uint16_t port = 0;
  bool exited = false;

  void spawn(const std::vector<std::string>& command, const std::string& log_path) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) die("pipe2 failed");
    std::vector<char*> argv;
    for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      execvp(argv[0], argv.data());
      std::fprintf(stderr, "callproxy-bench: cannot run %s: %s\n", argv[0], std::strerror(errno));
      _exit(127);
    }
    close(fds[1]);
    output = fds[0];
    set_nonblocking(output);
    spawned = true;
    if (!log_path.empty()) log = std::fopen(log_path.c_str(), "w");
  }

  // Drains its output; looks for "listening on HOST:PORT" until the port is known.
  void on_output() {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(output, buf, sizeof buf);
      if (n <= 0) {
        if (n == 0 || errno != EAGAIN) exited = true;
        return;
      }
      if (log) std::fwrite(buf, 1, static_cast<std::size_t>(n), log);
      if (port != 0) continue;
      seen.append(buf, static_cast<std::size_t>(n));
      const auto at = seen.find("listening on ");
      if (at == std::string::npos) continue;
      const auto end = seen.find_first_of(" \n", at + 13);
      if (end == std::string::npos) continue;
      const std::string hostport = seen.substr(at + 13, end - at - 13);
      const auto colon = hostport.rfind(':');
      long p = 0;
      const char* first = hostport.data() + colon + 1;
      const auto [ptr, ec] = std::from_chars(first, hostport.data() + hostport.size(), p);
      if (colon != std::string::npos && ec == std::errc{} && p > 0 && p < 65536) port = static_cast<std::uint16_t>(p);
    }
  }

  void stop(Loop& loop) {
    if (!spawned || pid <= 0) return;
    kill(pid, SIGTERM);
    // valgrind writes its profile on the way out: allow it time.
    const std::int64_t deadline = monotonic_ns() + 60'000'000'000;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (monotonic_ns() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      epoll_event ev[8];
      loop.wait(monotonic_ns() + 5'000'000, ev, 8);
      if (output >= 0) on_output();
    }
    if (output >= 0) {
      on_output();
      close(output);
      output = -1;
    }
    if (log) std::fclose(log);
    log = nullptr;
    pid = 0;
  }
};

// ---- the calls: Twilio's side -------------------------------------------------------------------------
enum class CallState { waiting, connecting, handshaking, streaming, closing, done, failed };

struct Call {
  int fd = -1;
  CallState state = CallState::waiting;
  std::int64_t base_ns = 0;  // its phase: media deadlines are base + k * 20 ms (the first after its start)
  std::int64_t next_ns = 0;
  std::uint32_t frames_sent = 0;
  std::uint32_t twilio_sequence = 0;
  std::string out;
  std::string in;
  std::string accept;  // the Sec-WebSocket-Accept expected
  std::string stream_sid, call_sid, account_sid;
};

struct Figures {
  std::uint64_t frames_sent = 0;
  std::uint64_t window_frames_sent = 0;
  int calls_failed = 0;
  int calls_streaming_at_window = 0;
  std::string first_error;
  Histogram send_late;  // how late the driver sent frames against their deadlines
};

class Driver {
 public:
  Driver(const Options& o, Loop& loop, std::uint16_t target_port, std::uint16_t sink_port,
         std::uint32_t frames_per_call)
      : o_(o),
        loop_(loop),
        target_port_(target_port),
        frames_per_call_(frames_per_call),
        calls_(static_cast<std::size_t>(o.calls)),
        random_(static_cast<std::uint64_t>(monotonic_ns())) {
    std::string hosts = "[";
    for (int b = 0; b < o.backends; ++b) {
      if (b) hosts += ",";
      std::string options;
      if (!o.backend_options.empty())
        options = o.backend_options[static_cast<std::size_t>(b) % o.backend_options.size()];
      const std::string sink = o.sink_socket.empty() ? "ws://127.0.0.1:" + std::to_string(sink_port) + "/b"
                                                     : "unix:" + o.sink_socket + ":/b";
      hosts += "\\\"" + sink + std::to_string(b) + (options.empty() ? "" : "#" + options) + "\\\"";
    }
    if (!o.extra_backend.empty()) hosts += ",\\\"" + o.extra_backend + "\\\"";
    hosts += "]";
    backend_hosts_ = hosts;
    buffer_.resize(64 * 1024);
  }

  // Call i connects at t0 + i/N of the ramp; its frames are due on its own grid, offset i/N of
  // the spread (20 ms), so the N calls' frames are spread evenly over every 20 ms however long
  // the ramp is.
  void schedule(std::int64_t t0) {
    const std::int64_t ramp = static_cast<std::int64_t>(o_.ramp_s * 1e9);
    const auto n = static_cast<std::int64_t>(calls_.size());
    for (std::size_t i = 0; i < calls_.size(); ++i) {
      Call& c = calls_[i];
      const auto k = static_cast<std::int64_t>(i);
      c.base_ns = t0 + static_cast<std::int64_t>(o_.spread_s * 1e9) * k / n;
      c.account_sid = sid("AC", i);
      c.call_sid = sid("CA", i);
      c.stream_sid = sid("MZ", i);
      push(t0 + ramp * k / n, static_cast<std::uint32_t>(i));
    }
  }

  std::int64_t next_deadline() const { return heap_.empty() ? INT64_MAX : heap_.top().first; }

  // Runs the actions due by now, at most `limit` of them: a driver that has fallen behind still
  // returns to its loop often enough to read the sink and to open and close the window on time.
  void run_due(std::int64_t now, int limit = 256) {
    while (!heap_.empty() && heap_.top().first <= now && limit-- > 0) {
      const auto [deadline, index] = heap_.top();
      heap_.pop();
      Call& c = calls_[index];
      if (c.state == CallState::waiting) {
        start_connect(c, index);
      } else if (c.state == CallState::streaming) {
        on_deadline(c, index, deadline);
      }
    }
  }

  void on_event(std::uint32_t index, std::uint32_t events) {
    Call& c = calls_[index];
    if (c.fd < 0) return;
    if (c.state == CallState::connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return fail(c, index, std::string("cannot connect: ") + std::strerror(err));
      if (!(events & EPOLLOUT)) return;
      c.state = CallState::handshaking;
      loop_.modify(c.fd, EPOLLIN, tag(Kind::call, index));
      std::uint8_t key_bytes[16];
      for (int i = 0; i < 16; i += 8) {
        const std::uint64_t r = random_.next();
        std::memcpy(key_bytes + i, &r, 8);
      }
      const std::string key = base64_encode(std::string_view(reinterpret_cast<char*>(key_bytes), 16));
      c.accept = websocket_accept(key);
      send_raw(c, index,
               "GET " + o_.path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(target_port_) +
                   "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                   "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: Twilio.TmeWs/1.0\r\n\r\n");
      return;
    }
    if (events & EPOLLOUT) flush(c, index);
    if (c.fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) read(c, index);
  }

  bool all_finished() const { return finished_ == calls_.size(); }
  std::int64_t last_stop_ns() const { return last_stop_ns_; }
  int streaming() const {
    int n = 0;
    for (const auto& c : calls_) n += c.state == CallState::streaming;
    return n;
  }
  std::vector<std::uint32_t> sent_per_call() const {
    std::vector<std::uint32_t> v;
    v.reserve(calls_.size());
    for (const auto& c : calls_) v.push_back(c.frames_sent);
    return v;
  }
  void close_all() {
    for (std::uint32_t i = 0; i < calls_.size(); ++i) {
      Call& c = calls_[i];
      if (c.fd >= 0) {
        if (c.state == CallState::closing) finish(c, i, CallState::done);
        else fail(c, i, "still open at the end of the drain");
      }
    }
  }

  Figures figures;
  bool in_window = false;

 private:
  static std::string sid(const char* prefix, std::size_t index) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s%016llx%016llx", prefix, 0xbe4c0000ULL, static_cast<unsigned long long>(index));
    return buf;
  }

  void push(std::int64_t at, std::uint32_t index) { heap_.emplace(at, index); }

  void start_connect(Call& c, std::uint32_t index) {
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(c, index, std::string("socket: ") + std::strerror(errno));
    set_nodelay(c.fd);
    auto addr = loopback(target_port_);
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
      return fail(c, index, std::string("cannot connect: ") + std::strerror(errno));
    }
    c.state = CallState::connecting;
    loop_.add(c.fd, EPOLLOUT, tag(Kind::call, index));
  }

  void on_deadline(Call& c, std::uint32_t index, std::int64_t deadline) {
    const std::int64_t now = monotonic_ns();
    figures.send_late.add(now - deadline);
    if (c.frames_sent < frames_per_call_) {
      send_media(c, index, now);
      if (c.fd < 0) return;
      c.next_ns = deadline + frame_ns;
      push(c.next_ns, index);
      return;
    }
    // Twilio's stop, then the close handshake.
    send_text(c, index, stop_message(c));
    if (c.fd < 0) return;
    std::uint8_t frame[max_frame_header + 2];
    std::uint8_t mask[4];
    new_mask(mask);
    const std::size_t hl = write_frame_header(frame, Opcode::close, 2, mask);
    frame[hl] = 0x03;
    frame[hl + 1] = 0xE8;
    apply_mask(frame + hl, 2, mask);
    send_raw(c, index, std::string_view(reinterpret_cast<char*>(frame), hl + 2));
    if (c.fd < 0) return;
    c.state = CallState::closing;
    last_stop_ns_ = std::max(last_stop_ns_, now);
  }

  void new_mask(std::uint8_t mask[4]) {
    const std::uint64_t r = random_.next();
    std::memcpy(mask, &r, 4);
  }

  void send_media(Call& c, std::uint32_t index, std::int64_t now) {
    const std::uint32_t seq = c.frames_sent;
    std::uint8_t raw[frame_bytes];
    std::memcpy(raw, &frame_magic, 4);
    std::memcpy(raw + 4, &index, 4);
    std::memcpy(raw + 8, &seq, 4);
    std::memcpy(raw + 12, &now, 8);
    std::memcpy(raw + frame_header_bytes, filler.bytes, sizeof filler.bytes);
    char b64[base64_length(frame_bytes)];
    base64_encode(raw, frame_bytes, b64);

    // Twilio's media message, field for field and in Twilio's order.
    char* json = reinterpret_cast<char*>(buffer_.data()) + max_frame_header;
    char* p = json;
    const auto put = [&p](std::string_view s) {
      std::memcpy(p, s.data(), s.size());
      p += s.size();
    };
    const auto put_number = [&p](std::uint64_t v) { p = std::to_chars(p, p + 24, v).ptr; };
    put(R"({"event":"media","sequenceNumber":")");
    put_number(++c.twilio_sequence);
    put(R"(","media":{"track":"inbound","chunk":")");
    put_number(seq + 1);
    put(R"(","timestamp":")");
    put_number(static_cast<std::uint64_t>(seq) * 20);
    put(R"(","payload":")");
    put(std::string_view(b64, sizeof b64));
    put(R"("},"streamSid":")");
    put(c.stream_sid);
    put(R"("})");
    ++c.frames_sent;
    ++figures.frames_sent;
    if (in_window) ++figures.window_frames_sent;
    send_frame(c, index, Opcode::text, json, static_cast<std::size_t>(p - json));
  }

  std::string start_message(Call& c) {
    return R"({"event":"start","sequenceNumber":")" + std::to_string(++c.twilio_sequence) +
           R"(","start":{"accountSid":")" + c.account_sid + R"(","streamSid":")" + c.stream_sid + R"(","callSid":")" +
           c.call_sid + R"(","tracks":["inbound"],"customParameters":{"backendHosts":")" + backend_hosts_ +
           R"("},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":")" +
           c.stream_sid + R"("})";
  }

  std::string stop_message(Call& c) {
    return R"({"event":"stop","sequenceNumber":")" + std::to_string(++c.twilio_sequence) +
           R"(","stop":{"accountSid":")" + c.account_sid + R"(","callSid":")" + c.call_sid + R"("},"streamSid":")" +
           c.stream_sid + R"("})";
  }

  void send_text(Call& c, std::uint32_t index, const std::string& text) {
    std::memcpy(buffer_.data() + max_frame_header, text.data(), text.size());
    send_frame(c, index, Opcode::text, reinterpret_cast<char*>(buffer_.data()) + max_frame_header, text.size());
  }

  // `payload` sits in buffer_ right after max_frame_header bytes of room for the header.
  void send_frame(Call& c, std::uint32_t index, std::uint8_t opcode, char* payload, std::size_t length) {
    std::uint8_t header[max_frame_header];
    std::uint8_t mask[4];
    new_mask(mask);
    const std::size_t hl = write_frame_header(header, opcode, length, mask);
    auto* start = reinterpret_cast<std::uint8_t*>(payload) - hl;
    std::memcpy(start, header, hl);
    apply_mask(reinterpret_cast<std::uint8_t*>(payload), length, mask);
    send_raw(c, index, std::string_view(reinterpret_cast<char*>(start), hl + length));
  }

  void send_raw(Call& c, std::uint32_t index, std::string_view bytes) {
    if (!c.out.empty()) {
      c.out.append(bytes);
      return;
    }
    const ssize_t n = send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(bytes.size())) return;
    if (n < 0 && errno != EAGAIN) return fail(c, index, std::string("send: ") + std::strerror(errno));
    c.out.assign(bytes.substr(n > 0 ? static_cast<std::size_t>(n) : 0));
    loop_.modify(c.fd, EPOLLIN | EPOLLOUT, tag(Kind::call, index));
  }

  void flush(Call& c, std::uint32_t index) {
    if (c.out.empty()) return;
    const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) return fail(c, index, std::string("send: ") + std::strerror(errno));
    if (n > 0) c.out.erase(0, static_cast<std::size_t>(n));
    if (c.out.empty()) loop_.modify(c.fd, EPOLLIN, tag(Kind::call, index));
  }

  void read(Call& c, std::uint32_t index) {
    char buf[16384];
    const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      if (c.state == CallState::closing) return finish(c, index, CallState::done);
      return fail(c, index, n == 0 ? "the target closed the connection" : std::string("recv: ") + std::strerror(errno));
    }
    c.in.append(buf, static_cast<std::size_t>(n));
    if (c.state == CallState::handshaking) {
      const auto end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) return;
      const std::string_view head(c.in.data(), end + 2);
      if (head.rfind("HTTP/1.1 101", 0) != 0) {
        return fail(c, index, "handshake refused: " + std::string(head.substr(0, head.find("\r\n"))));
      }
      if (http_header(head, "Sec-WebSocket-Accept") != c.accept) return fail(c, index, "bad Sec-WebSocket-Accept");
      c.in.erase(0, end + 4);
      c.state = CallState::streaming;
      send_text(c, index, R"({"event":"connected","protocol":"Call","version":"1.0.0"})");
      if (c.fd < 0) return;
      send_text(c, index, start_message(c));
      if (c.fd < 0) return;
      // Media follow on the call's own 20 ms grid, from the first slot after now.
      const std::int64_t now = monotonic_ns();
      const std::int64_t k = now <= c.base_ns ? 0 : (now - c.base_ns + frame_ns - 1) / frame_ns;
      c.next_ns = c.base_ns + k * frame_ns;
      push(c.next_ns, index);
    }
    // Frames from the target: only a close matters (the sink never replies).
    std::size_t pos = 0;
    for (;;) {
      FrameHeader h;
      const int r = parse_frame_header(reinterpret_cast<const std::uint8_t*>(c.in.data()) + pos, c.in.size() - pos, h);
      if (r < 0) return fail(c, index, "malformed frame from the target");
      if (r == 0 || c.in.size() - pos < h.header_bytes + h.length) break;
      if (h.opcode == Opcode::close) {
        if (c.state == CallState::closing) return finish(c, index, CallState::done);
        std::string why = "closed by the target";
        if (h.length >= 2) {
          const auto* p = reinterpret_cast<const std::uint8_t*>(c.in.data()) + pos + h.header_bytes;
          why += " (" + std::to_string((p[0] << 8) | p[1]) + " " +
                 std::string(reinterpret_cast<const char*>(p) + 2, static_cast<std::size_t>(h.length) - 2) + ")";
        }
        return fail(c, index, why);
      }
      pos += h.header_bytes + static_cast<std::size_t>(h.length);
    }
    c.in.erase(0, pos);
  }

  void finish(Call& c, std::uint32_t index, CallState state) {
    (void)index;
    if (c.fd >= 0) {
      loop_.remove(c.fd);
      close(c.fd);
      c.fd = -1;
    }
    if (c.state != CallState::done && c.state != CallState::failed) ++finished_;
    c.state = state;
    c.out.clear();
    c.in.clear();
  }

  void fail(Call& c, std::uint32_t index, const std::string& why) {
    if (c.state == CallState::done || c.state == CallState::failed) return;
    ++figures.calls_failed;
    if (figures.first_error.empty()) figures.first_error = "call " + std::to_string(index) + ": " + why;
    finish(c, index, CallState::failed);
  }

  const Options& o_;
  Loop& loop_;
  std::uint16_t target_port_;
  std::uint32_t frames_per_call_;
  std::vector<Call> calls_;
  std::string backend_hosts_;
  using Entry = std::pair<std::int64_t, std::uint32_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
  FastRandom random_;
  std::vector<std::uint8_t> buffer_;
  std::size_t finished_ = 0;
  std::int64_t last_stop_ns_ = 0;
};

// ---- the report ---------------------------------------------------------------------------------------------
class Json {
 public:
  Json& field(const char* name, const std::string& v) {
    key(name);
    text_ += '"';
    for (const char ch : v) {
      if (ch == '"' || ch == '\\') text_ += '\\';
      if (static_cast<unsigned char>(ch) < 0x20) {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\u%04x", ch);
        text_ += esc;
        continue;
      }
      text_ += ch;
    }
    text_ += '"';
    return *this;
  }
  Json& field(const char* name, const char* v) { return field(name, std::string(v)); }
  Json& field(const char* name, double v, int decimals = 2) {
    key(name);
    if (!std::isfinite(v)) {
      text_ += "null";
      return *this;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    text_ += buf;
    return *this;
  }
  Json& field(const char* name, std::uint64_t v) { return raw(name, std::to_string(v)); }
  Json& field(const char* name, long v) { return raw(name, std::to_string(v)); }
  Json& field(const char* name, int v) { return raw(name, std::to_string(v)); }
  Json& raw(const char* name, const std::string& v) {
    key(name);
    text_ += v;
    return *this;
  }
  std::string str() const { return text_ + "}"; }

 private:
  void key(const char* name) {
    text_ += text_.size() > 1 ? ",\"" : "\"";
    text_ += name;
    text_ += "\":";
  }
  std::string text_ = "{";
};

std::string percentiles_us(const Histogram& h) {
  Json j;
  j.field("p50", h.quantile_ns(0.50) / 1e3, 1)
      .field("p90", h.quantile_ns(0.90) / 1e3, 1)
      .field("p99", h.quantile_ns(0.99) / 1e3, 1)
      .field("max", static_cast<double>(h.max_ns()) / 1e3, 1)
      .field("n", h.count());
  return j.str();
}

struct Sample {
  std::int64_t at_ns = 0;
  std::optional<ProcCpu> target;
  std::optional<long> rss_kib;
  ProcCpu self;
  std::vector<double> cpus;  // busy seconds per CPU
  std::uint64_t received = 0;
};

Sample take_sample(pid_t pid, const Sink& sink) {
  Sample s;
  s.at_ns = monotonic_ns();
  if (pid > 0) {
    s.target = read_proc_cpu(pid);
    s.rss_kib = read_rss_kib(pid);
  }
  s.self = self_cpu();
  s.cpus = cpu_busy_seconds();
  s.received = sink.window_frames;
  return s;
}

// The target's CPU over the window per forwarded frame: the total from its CPU-time clock (ns),
// split into user and system in the proportion /proc's utime and stime (clock ticks) give.
void add_target_cpu(Json& j, const Sample& a, const Sample& b, std::uint64_t frames, std::uint64_t frames_in) {
  if (!a.target || !b.target) return;
  const double wall = static_cast<double>(b.at_ns - a.at_ns) / 1e9;
  const double total = b.target->total_s - a.target->total_s;
  const double ticks_user = b.target->user_s - a.target->user_s;
  const double ticks_all = ticks_user + (b.target->system_s - a.target->system_s);
  const double user = ticks_all > 0 ? total * ticks_user / ticks_all : NAN;
  const double per = frames ? 1e6 / static_cast<double>(frames) : NAN;
  Json us;
  us.field("user", user * per).field("system", (total - user) * per).field("total", total * per);
  j.raw("target_us_per_frame", us.str());
  j.field("target_us_per_frame_in", frames_in ? total * 1e6 / static_cast<double>(frames_in) : NAN);
  j.field("target_cpu_pct", 100 * total / wall, 1);
}

// How busy each CPU was over the window, and what the target and the driver do not account for:
// other processes (a compiler on the shared machine) and interrupts. Noise made visible.
void add_machine_load(Json& j, const Sample& a, const Sample& b) {
  const double wall = static_cast<double>(b.at_ns - a.at_ns) / 1e9;
  if (wall <= 0 || a.cpus.size() != b.cpus.size()) return;
  std::string list = "[";
  double busy = 0;
  for (std::size_t i = 0; i < a.cpus.size(); ++i) {
    const double d = b.cpus[i] - a.cpus[i];
    busy += d;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.1f", i ? "," : "", 100 * d / wall);
    list += buf;
  }
  j.raw("cpu_busy_pct", list + "]");
  double ours = b.self.total_s - a.self.total_s;
  if (a.target && b.target) ours += b.target->total_s - a.target->total_s;
  j.field("others_cpu_pct", 100 * std::max(0.0, busy - ours) / wall, 1);
}

volatile sig_atomic_t interrupted = 0;

// ---- drive ---------------------------------------------------------------------------------------------
int drive(const Options& o) {
  const long fd_limit = raise_fd_limit();
  if (fd_limit < 2L * o.calls * (1 + o.backends) + 64) {
    std::fprintf(stderr, "callproxy-bench: warning: open-file limit %ld is low for %d calls x %d backends\n", fd_limit,
                 o.calls, o.backends);
  }
  const std::uint32_t frames_per_call = o.frames > 0 ? static_cast<std::uint32_t>(o.frames)
                                                     : static_cast<std::uint32_t>(std::ceil(
                                                           (o.ramp_s + o.warmup_s + o.window_s + o.tail_s) * 50));
  Loop loop;
  Sink sink(loop, o.calls, o.backends, frames_per_call, o.kernel_timestamps);
  std::uint16_t sink_port = 0;
  if (o.sink_socket.empty()) {
    sink_port = sink.listen(o.sink_port);
  } else {
    sink.listen_unix(o.sink_socket);
  }

  Target target;
  std::uint16_t target_port = 0;
  std::string path = o.path;
  double startup_ms = NAN;
  epoll_event events[1024];
  if (!o.target_command.empty()) {
    std::vector<std::string> command = o.target_command;
    for (auto& a : command) {
      for (std::size_t at; (at = a.find("{sink}")) != std::string::npos;) a.replace(at, 6, std::to_string(sink_port));
    }
    const std::int64_t t_exec = monotonic_ns();
    target.spawn(command, o.target_log);
    loop.add(target.output, EPOLLIN, tag(Kind::target_output, 0));
    const std::int64_t deadline = t_exec + static_cast<std::int64_t>(o.start_timeout_s * 1e9);
    // Its log names the port; then it accepts once a connection goes through.
    while (target.port == 0) {
      if (target.exited || monotonic_ns() > deadline) {
        std::fprintf(stderr, "callproxy-bench: the target did not start listening; its output:\n%s\n",
                     target.seen.c_str());
        target.stop(loop);
        return 1;
      }
      const int n = loop.wait(deadline, events, 1024);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == tag(Kind::target_output, 0)) target.on_output();
      }
    }
    for (;;) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      auto addr = loopback(target.port);
      const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      close(fd);
      if (ok) break;
      if (monotonic_ns() > deadline)
        die("the target named port " + std::to_string(target.port) + " but never accepted");
      loop.wait(monotonic_ns() + 200'000, events, 1);
      target.on_output();
    }
    startup_ms = static_cast<double>(monotonic_ns() - t_exec) / 1e6;
    target_port = target.port;
  } else {
    parse_url(o.url, target_port, path);
  }
  Options run = o;
  run.path = path;
  const pid_t pid = o.pid ? o.pid : target.pid;

  const auto pump = [&](std::int64_t until, Driver* driver) {
    const int n = loop.wait(until, events, 1024);
    for (int i = 0; i < n; ++i) {
      const std::uint64_t d = events[i].data.u64;
      const auto kind = static_cast<Kind>(d >> 32);
      const auto index = static_cast<std::uint32_t>(d);
      switch (kind) {
        case Kind::sink_listener: sink.on_accept(); break;
        case Kind::sink_conn: sink.on_event(index, events[i].events); break;
        case Kind::call:
          if (driver) driver->on_event(index, events[i].events);
          break;
        case Kind::target_output:
          target.on_output();
          if (target.exited) loop.remove(target.output);
          break;
      }
    }
  };

  // Idle: let the target settle, then sample its RSS before any call.
  const std::int64_t settle = monotonic_ns() + static_cast<std::int64_t>(o.settle_s * 1e9);
  while (monotonic_ns() < settle) pump(settle, nullptr);
  const long idle_rss = pid > 0 ? read_rss_kib(pid).value_or(-1) : -1;

  Driver driver(run, loop, target_port, sink_port, frames_per_call);
  std::optional<Flood> flood;
  if (o.flood > 0) {
    flood.emplace(target_port, run.path, o.flood_kind == "pings" ? FloodKind::pings : FloodKind::fragments, o.flood);
  }
  const std::int64_t t0 = monotonic_ns() + 10'000'000;
  driver.schedule(t0);
  const std::int64_t window_start = t0 + static_cast<std::int64_t>((o.ramp_s + o.warmup_s) * 1e9);
  const std::int64_t window_end = window_start + static_cast<std::int64_t>(o.window_s * 1e9);
  Sample a, b;
  // connections, closed by the target, worst /healthz (ms), unanswered /healthz
  std::optional<std::tuple<std::uint64_t, std::uint64_t, double, std::uint64_t>> flood_figures;
  bool window_opened = false, window_closed = false;
  std::int64_t drain_deadline = INT64_MAX;
  while (!interrupted) {
    const std::int64_t now = monotonic_ns();
    if (!window_opened && now >= window_start) {
      window_opened = true;
      driver.figures.calls_streaming_at_window = driver.streaming();
      a = take_sample(pid, sink);
      sink.in_window = driver.in_window = true;
    }
    if (window_opened && !window_closed && now >= window_end) {
      window_closed = true;
      sink.in_window = driver.in_window = false;
      b = take_sample(pid, sink);
      if (flood) {
        flood_figures.emplace(flood->connections(), flood->closed(), flood->worst_healthz_ms(),
                              flood->healthz_unanswered());
        flood.reset();
      }
    }
    driver.run_due(now);
    if (driver.all_finished() && drain_deadline == INT64_MAX) {
      drain_deadline = now + static_cast<std::int64_t>(o.drain_s * 1e9);
    }
    if (driver.all_finished() && window_closed) {
      // Done once the sink has every frame and every stop, or its connections have all closed,
      // or time's up.
      const auto stops = static_cast<std::uint64_t>(o.calls) * static_cast<std::uint64_t>(o.backends);
      const bool all_in = sink.counters.stops >= stops && sink.lost_total(driver.sent_per_call()) == 0;
      if (all_in || sink.open_connections() == 0 || now > drain_deadline) break;
    }
    if (driver.last_stop_ns() && now > driver.last_stop_ns() + static_cast<std::int64_t>(o.drain_s * 1e9) * 2) break;
    std::int64_t until = std::min(driver.next_deadline(), now + 50'000'000);
    if (!window_opened) until = std::min(until, window_start);
    else if (!window_closed) until = std::min(until, window_end);
    pump(until, &driver);
  }
  if (!window_closed) b = take_sample(pid, sink);
  // Whatever closes last (the sink's side of the close handshakes) gets a moment to finish.
  const std::int64_t last_closes = monotonic_ns() + 100'000'000;
  while (monotonic_ns() < last_closes && sink.open_connections()) pump(last_closes, &driver);
  driver.close_all();
  const auto sent = driver.sent_per_call();
  const std::uint64_t lost = sink.lost_total(sent);
  sink.close_all();

  const Figures& f = driver.figures;
  const Counters& k = sink.counters;
  const double window_s = static_cast<double>(b.at_ns - a.at_ns) / 1e9;
  const std::uint64_t window_frames = b.received - a.received;
  Json j;
  j.field("tool", "callproxy-bench").field("label", o.label).field("calls", o.calls).field("backends", o.backends);
  j.field("format", o.format)
      .field("spread_ms", o.spread_s * 1e3, 1)
      .field("window_s", window_s, 3)
      .field("frames_per_call", std::uint64_t{frames_per_call});
  j.field("calls_failed", f.calls_failed).field("calls_streaming_at_window", f.calls_streaming_at_window);
  j.field("frames_sent", f.frames_sent)
      .field("frames_expected", f.frames_sent * static_cast<std::uint64_t>(o.backends));
  j.field("frames_received", k.ours).field("lost", lost).field("duplicated", k.duplicated);
  j.field("out_of_order", k.out_of_order).field("damaged", k.damaged).field("foreign", k.foreign);
  if (!o.backend_options.empty()) {
    // Shaped frames carry converted audio, not the driver's stamps: they are counted, not checked
    // (no latency either); lost is what the sink should have had and did not.
    std::string shapes;
    for (const auto& s : o.backend_options) shapes += (shapes.empty() ? "" : ";") + s;
    const auto expected = f.frames_sent * static_cast<std::uint64_t>(o.backends);
    const auto media = k.ours + k.foreign + k.shaped;
    j.field("shapes", shapes).field("shaped_lost", expected > media ? expected - media : 0);
  }
  if (!o.extra_backend.empty()) j.field("extra_backend", o.extra_backend);
  j.field("starts_received", k.starts).field("stops_received", k.stops);
  j.field("window_frames_sent", f.window_frames_sent).field("window_frames_received", window_frames);
  j.field("frames_per_s", window_s > 0 ? static_cast<double>(window_frames) / window_s : NAN, 0);
  j.field("frames_per_s_per_call", window_s > 0 ? static_cast<double>(window_frames) / window_s / o.calls : NAN, 1);
  j.raw("latency_us", percentiles_us(sink.latency));
  if (flood_figures) {
    const auto& [connections, closed, worst_ms, unanswered] = *flood_figures;
    Json fl;
    fl.field("peers", o.flood)
        .field("kind", o.flood_kind)
        .field("connections", connections)
        .field("closed_by_target", closed)
        .field("healthz_worst_ms", worst_ms, 1)
        .field("healthz_unanswered", unanswered);
    j.raw("flood", fl.str());
  }
  j.raw("send_late_us", percentiles_us(f.send_late));
  if (pid > 0) j.field("target_pid", static_cast<long>(pid));
  add_target_cpu(j, a, b, window_frames, f.window_frames_sent);
  if (idle_rss >= 0) j.field("target_rss_idle_kib", idle_rss);
  if (b.rss_kib) j.field("target_rss_kib", *b.rss_kib);
  if (idle_rss >= 0 && b.rss_kib) {
    j.field("target_kib_per_call", static_cast<double>(*b.rss_kib - idle_rss) / o.calls, 1);
  }
  if (!std::isnan(startup_ms)) j.field("target_startup_ms", startup_ms, 1);
  const double self = b.self.total_s - a.self.total_s;
  j.field("driver_cpu_pct", window_s > 0 ? 100 * self / window_s : NAN, 1);
  add_machine_load(j, a, b);
  if (!f.first_error.empty()) j.field("first_error", f.first_error);
  std::printf("%s\n", j.str().c_str());
  std::fflush(stdout);

  target.stop(loop);
  if (o.check) {
    const bool ok = f.calls_failed == 0 && lost == 0 && k.duplicated == 0 && k.out_of_order == 0 && k.damaged == 0 &&
                    k.ours == f.frames_sent * static_cast<std::uint64_t>(o.backends) && k.ours > 0 &&
                    k.stops == static_cast<std::uint64_t>(o.calls) * static_cast<std::uint64_t>(o.backends);
    if (!ok) {
      std::fprintf(stderr, "callproxy-bench: check failed (calls failed, frames lost/duplicated/reordered/damaged, "
                           "or stops missing)\n");
      return 1;
    }
  }
  return 0;
}

// ---- sink alone ------------------------------------------------------------------------------------------
// Counts what another client's calls deliver through the target (frames it cannot identify are
// "foreign" and still counted), and measures the target over a window that opens --warmup
// seconds after the first media frame.
int sink_only(const Options& o) {
  raise_fd_limit();
  Loop loop;
  Sink sink(loop, 0, 64, 0, o.kernel_timestamps);
  if (o.sink_socket.empty()) {
    const std::uint16_t port = sink.listen(o.sink_port);
    std::fprintf(stderr, "callproxy-bench sink listening on 127.0.0.1:%u\n", port);
  } else {
    sink.listen_unix(o.sink_socket);
    std::fprintf(stderr, "callproxy-bench sink listening on unix:%s\n", o.sink_socket.c_str());
  }
  const long idle_rss = o.pid > 0 ? read_rss_kib(o.pid).value_or(-1) : -1;
  epoll_event events[1024];
  Sample a, b;
  bool opened = false, closed = false;
  std::int64_t window_start = INT64_MAX, window_end = INT64_MAX, linger_end = INT64_MAX;
  while (!interrupted) {
    const std::int64_t now = monotonic_ns();
    if (window_start == INT64_MAX && sink.first_frame_ns) {
      window_start = monotonic_ns() + static_cast<std::int64_t>(o.warmup_s * 1e9);
      window_end = window_start + static_cast<std::int64_t>(o.window_s * 1e9);
    }
    if (!opened && now >= window_start) {
      opened = true;
      sink.in_window = true;
      a = take_sample(o.pid, sink);
    }
    if (opened && !closed && now >= window_end) {
      closed = true;
      sink.in_window = false;
      b = take_sample(o.pid, sink);
      linger_end = now + static_cast<std::int64_t>(o.linger_s * 1e9);
    }
    if (closed && (sink.open_connections() == 0 || now > linger_end)) break;
    std::int64_t until = now + 50'000'000;
    if (!opened) until = std::min(until, window_start);
    else if (!closed) until = std::min(until, window_end);
    const int n = loop.wait(until, events, 1024);
    for (int i = 0; i < n; ++i) {
      const std::uint64_t d = events[i].data.u64;
      if (static_cast<Kind>(d >> 32) == Kind::sink_listener) sink.on_accept();
      else sink.on_event(static_cast<std::uint32_t>(d), events[i].events);
    }
  }
  if (!closed) b = take_sample(o.pid, sink);
  const double window_s = static_cast<double>(b.at_ns - a.at_ns) / 1e9;
  const std::uint64_t window_frames = b.received - a.received;
  const Counters& k = sink.counters;
  Json j;
  j.field("tool", "callproxy-bench sink").field("label", o.label).field("window_s", window_s, 3);
  j.field("frames_received", k.frames).field("window_frames_received", window_frames);
  j.field("starts_received", k.starts).field("stops_received", k.stops).field("connections", k.connections);
  j.field("frames_per_s", window_s > 0 ? static_cast<double>(window_frames) / window_s : NAN, 0);
  if (o.pid > 0) j.field("target_pid", static_cast<long>(o.pid));
  add_target_cpu(j, a, b, window_frames, 0);
  if (idle_rss >= 0) j.field("target_rss_idle_kib", idle_rss);
  if (b.rss_kib) j.field("target_rss_kib", *b.rss_kib);
  const double self = b.self.total_s - a.self.total_s;
  j.field("driver_cpu_pct", window_s > 0 ? 100 * self / window_s : NAN, 1);
  add_machine_load(j, a, b);
  std::printf("%s\n", j.str().c_str());
  std::fflush(stdout);
  sink.close_all();
  return 0;
}

}  // namespace
}  // namespace callproxy::bench

int main(int argc, char** argv) {
  using namespace callproxy::bench;
  const Options o = parse_options(argc, argv);
  struct sigaction sa {};
  sa.sa_handler = [](int) { interrupted = 1; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return o.mode == "drive" ? drive(o) : sink_only(o);
}
