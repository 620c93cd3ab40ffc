#include "bench/bench_util.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

namespace callproxy::bench {

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// ---- base64 -----------------------------------------------------------------------------------
namespace {
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct DecodeTable {
  std::int8_t v[256];
  constexpr DecodeTable() : v() {
    for (auto& x : v) x = -1;
    for (int i = 0; i < 64; ++i) v[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  }
};
constexpr DecodeTable decode_table;
}  // namespace

void base64_encode(const std::uint8_t* in, std::size_t n, char* out) {
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
    *out++ = alphabet[(v >> 18) & 63];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = alphabet[(v >> 6) & 63];
    *out++ = alphabet[v & 63];
  }
  if (n - i == 1) {
    const std::uint32_t v = in[i] << 16;
    *out++ = alphabet[(v >> 18) & 63];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = '=';
    *out++ = '=';
  } else if (n - i == 2) {
    const std::uint32_t v = (in[i] << 16) | (in[i + 1] << 8);
    *out++ = alphabet[(v >> 18) & 63];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = alphabet[(v >> 6) & 63];
    *out++ = '=';
  }
}

std::string base64_encode(std::string_view bytes) {
  std::string out(base64_length(bytes.size()), '\0');
  base64_encode(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), out.data());
  return out;
}

std::optional<std::size_t> base64_decode(std::string_view in, std::uint8_t* out, std::size_t capacity) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::size_t n = 0;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int pad = 0;
    std::uint32_t v = 0;
    for (int j = 0; j < 4; ++j) {
      const auto c = static_cast<unsigned char>(in[i + j]);
      if (c == '=' && last && j >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad) return std::nullopt;  // data after padding
      const int d = decode_table.v[c];
      if (d < 0) return std::nullopt;
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    const std::size_t bytes = 3 - static_cast<std::size_t>(pad);
    if (n + bytes > capacity) return std::nullopt;
    out[n++] = static_cast<std::uint8_t>(v >> 16);
    if (bytes > 1) out[n++] = static_cast<std::uint8_t>(v >> 8);
    if (bytes > 2) out[n++] = static_cast<std::uint8_t>(v);
  }
  return n;
}

// ---- WebSocket -------------------------------------------------------------------------------
std::string websocket_accept(std::string_view key) {
  const std::string text = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

int parse_frame_header(const std::uint8_t* p, std::size_t n, FrameHeader& h) {
  if (n < 2) return 0;
  h.fin = (p[0] & 0x80) != 0;
  if (p[0] & 0x70) return -1;  // no extension negotiated: RSV bits must be 0
  h.opcode = p[0] & 0x0F;
  h.masked = (p[1] & 0x80) != 0;
  std::uint64_t len = p[1] & 0x7F;
  std::size_t pos = 2;
  if (len == 126) {
    if (n < 4) return 0;
    len = (std::uint64_t{p[2]} << 8) | p[3];
    pos = 4;
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    pos = 10;
  }
  if (h.masked) {
    if (n < pos + 4) return 0;
    std::memcpy(h.mask, p + pos, 4);
    pos += 4;
  }
  h.length = len;
  h.header_bytes = pos;
  return 1;
}

std::size_t write_frame_header(std::uint8_t* out, std::uint8_t opcode, std::uint64_t length, const std::uint8_t* mask) {
  std::size_t pos = 0;
  out[pos++] = static_cast<std::uint8_t>(0x80 | opcode);
  const std::uint8_t mask_bit = mask ? 0x80 : 0;
  if (length < 126) {
    out[pos++] = static_cast<std::uint8_t>(mask_bit | length);
  } else if (length <= 0xFFFF) {
    out[pos++] = static_cast<std::uint8_t>(mask_bit | 126);
    out[pos++] = static_cast<std::uint8_t>(length >> 8);
    out[pos++] = static_cast<std::uint8_t>(length);
  } else {
    out[pos++] = static_cast<std::uint8_t>(mask_bit | 127);
    for (int i = 7; i >= 0; --i) out[pos++] = static_cast<std::uint8_t>(length >> (8 * i));
  }
  if (mask) {
    std::memcpy(out + pos, mask, 4);
    pos += 4;
  }
  return pos;
}

void apply_mask(std::uint8_t* p, std::size_t n, const std::uint8_t mask[4]) {
  std::uint32_t m32 = 0;
  std::memcpy(&m32, mask, 4);
  const std::uint64_t m64 = (std::uint64_t{m32} << 32) | m32;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t v = 0;
    std::memcpy(&v, p + i, 8);
    v ^= m64;
    std::memcpy(p + i, &v, 8);
  }
  for (; i < n; ++i) p[i] ^= mask[i & 3];
}

std::string_view http_header(std::string_view head, std::string_view name) {
  std::size_t pos = 0;
  while (pos < head.size()) {
    std::size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view line = head.substr(pos, end - pos);
    pos = end + 2;
    const std::size_t colon = line.find(':');
    if (colon != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < colon && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(line[i])) == std::tolower(static_cast<unsigned char>(name[i]));
    }
    if (!same) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    return value;
  }
  return {};
}

// ---- histogram ---------------------------------------------------------------------------------
namespace {
std::size_t bucket_of(std::uint64_t v) {
  if (v < 128) return v;
  const int msb = 63 - __builtin_clzll(v);
  const int shift = msb - 6;
  return 128 + static_cast<std::size_t>(shift - 1) * 64 + ((v >> shift) - 64);
}
double bucket_middle(std::size_t idx) {
  if (idx < 128) return static_cast<double>(idx);
  const std::size_t shift = (idx - 128) / 64 + 1;
  const std::uint64_t m = (idx - 128) % 64 + 64;
  return (static_cast<double>(m << shift) + static_cast<double>((m + 1) << shift)) / 2;
}
}  // namespace

void Histogram::add(std::int64_t ns) {
  if (ns < 0) ns = 0;
  ++buckets_[bucket_of(static_cast<std::uint64_t>(ns))];
  ++count_;
  max_ = std::max(max_, ns);
}

double Histogram::quantile_ns(double q) const {
  if (count_ == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::max(1.0, q * static_cast<double>(count_) + 0.5));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(bucket_middle(i), static_cast<double>(max_));
  }
  return static_cast<double>(max_);
}

// ---- /proc --------------------------------------------------------------------------------------
std::optional<ProcCpu> read_proc_cpu(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return std::nullopt;
  // Fields after the command name (which may hold spaces and parentheses): state is field 3,
  // utime 14, stime 15.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  ProcCpu cpu{static_cast<double>(utime) / ticks, static_cast<double>(stime) / ticks, 0};
  cpu.total_s = cpu.user_s + cpu.system_s;
  clockid_t clock{};
  timespec ts{};
  if (clock_getcpuclockid(pid, &clock) == 0 && clock_gettime(clock, &ts) == 0) {
    cpu.total_s = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  }
  return cpu;
}

std::optional<long> read_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return std::nullopt;
}

ProcCpu self_cpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  ProcCpu cpu{static_cast<double>(u.ru_utime.tv_sec) + static_cast<double>(u.ru_utime.tv_usec) / 1e6,
              static_cast<double>(u.ru_stime.tv_sec) + static_cast<double>(u.ru_stime.tv_usec) / 1e6, 0};
  cpu.total_s = cpu.user_s + cpu.system_s;
  return cpu;
}

std::vector<double> cpu_busy_seconds() {
  std::ifstream in("/proc/stat");
  std::string line;
  std::vector<double> busy;
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (std::getline(in, line)) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] < '0' || line[3] > '9') continue;
    std::istringstream fields(line);
    std::string name;
    fields >> name;
    const auto cpu = static_cast<std::size_t>(std::stoul(name.substr(3)));
    unsigned long long v[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // user nice system idle iowait irq softirq steal
    for (auto& x : v) fields >> x;
    if (busy.size() <= cpu) busy.resize(cpu + 1, 0);
    busy[cpu] = static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / ticks;
  }
  return busy;
}

long raise_fd_limit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  getrlimit(RLIMIT_NOFILE, &r);
  return static_cast<long>(r.rlim_cur);
}

}  // namespace callproxy::bench
