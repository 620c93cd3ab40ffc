// What the bench tools share: base64, RFC 6455 framing and handshake pieces, the clock, a
// latency histogram and /proc readers. Self-contained on purpose (no project library, no
// Asio/Beast): the driver must stay cheap enough to play 5,000 calls from one core, and the
// instruments must not change when the code they measure does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace callproxy::bench {

// ---- clock ------------------------------------------------------------------------------
std::int64_t monotonic_ns();
std::int64_t realtime_ns();

// ---- base64 (standard alphabet, padded) -------------------------------------------------
constexpr std::size_t base64_length(std::size_t bytes) { return (bytes + 2) / 3 * 4; }
// Writes base64_length(n) characters to `out`.
void base64_encode(const std::uint8_t* in, std::size_t n, char* out);
// Decodes canonical or non-canonical padded base64; returns the byte count, or nullopt if the
// text is not base64 or would exceed `capacity`.
std::optional<std::size_t> base64_decode(std::string_view in, std::uint8_t* out, std::size_t capacity);
std::string base64_encode(std::string_view bytes);

// ---- WebSocket (RFC 6455) ---------------------------------------------------------------
// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string websocket_accept(std::string_view key);

struct Opcode {
  static constexpr std::uint8_t continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10;
};

struct FrameHeader {
  bool fin = false;
  std::uint8_t opcode = 0;
  bool masked = false;
  std::uint8_t mask[4] = {0, 0, 0, 0};
  std::uint64_t length = 0;
  std::size_t header_bytes = 0;
};
// 1 with `h` filled, 0 when more bytes are needed, -1 on a malformed header.
int parse_frame_header(const std::uint8_t* p, std::size_t n, FrameHeader& h);
// Writes a FIN frame header (2..14 bytes) for `length` payload bytes; with `mask` the frame is
// masked (a client's) and the caller must mask the payload with apply_mask.
std::size_t write_frame_header(std::uint8_t* out, std::uint8_t opcode, std::uint64_t length, const std::uint8_t* mask);
constexpr std::size_t max_frame_header = 14;
void apply_mask(std::uint8_t* p, std::size_t n, const std::uint8_t mask[4]);

// The value of an HTTP header in `head` (case-insensitive name), or empty.
std::string_view http_header(std::string_view head, std::string_view name);

// ---- latency histogram --------------------------------------------------------------------
// Log-linear buckets over nanoseconds: exact below 128 ns, then 64 buckets per power of two
// (1.6% wide), so percentiles are good to ~1% whatever the range.
class Histogram {
 public:
  void add(std::int64_t ns);
  std::uint64_t count() const { return count_; }
  // The value (ns) at quantile q in [0,1]: the middle of the bucket holding it.
  double quantile_ns(double q) const;
  std::int64_t max_ns() const { return max_; }

 private:
  std::vector<std::uint64_t> buckets_ = std::vector<std::uint64_t>(4096, 0);
  std::uint64_t count_ = 0;
  std::int64_t max_ = 0;
};

// ---- /proc ----------------------------------------------------------------------------------
struct ProcCpu {
  double user_s = 0;
  double system_s = 0;
  double total_s = 0;  // precise (ns) where known; user_s + system_s are in clock ticks (10 ms)
};
// CPU time of process `pid` (all its threads, also those that have exited): the total from its
// CPU-time clock (clock_getcpuclockid: nanoseconds), utime and stime from /proc/PID/stat.
std::optional<ProcCpu> read_proc_cpu(pid_t pid);
// VmRSS of `pid` in KiB, from /proc/PID/status.
std::optional<long> read_rss_kib(pid_t pid);
// This process's user and system CPU (getrusage).
ProcCpu self_cpu();
// Busy seconds (not idle or iowait) of every CPU since boot, from /proc/stat; index = CPU number.
std::vector<double> cpu_busy_seconds();

// ---- small things -----------------------------------------------------------------------------
// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
long raise_fd_limit();
// xorshift64*: masking keys and Sec-WebSocket-Key bytes (RFC 6455 wants them unpredictable to
// intermediaries, not cryptographic).
class FastRandom {
 public:
  explicit FastRandom(std::uint64_t seed) : state_(seed ? seed : 0x9E3779B97F4A7C15ULL) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1DULL;
  }

 private:
  std::uint64_t state_;
};

}  // namespace callproxy::bench
