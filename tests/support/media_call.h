// What the media integration tests share: one call as Twilio makes it, a series from serve's
// /metrics, a process's RSS, and serve's log line for a backend cut off at a queue bound.
// Header-only (the tests link the test client's writer).
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <sys/types.h>

#include "support/http_client.h"
#include "support/ws_peer.h"
#include "testclient/twilio_stream_writer.h"

namespace callproxy::test {

// One call as Twilio makes it: connected, start, 20 ms frames, stop.
struct TwilioCall {
  TwilioCall(unsigned short port, std::map<std::string, std::string> params,
             const std::map<std::string, std::string>& headers = {}, WsClient::Reading reading = WsClient::Reading::on)
      : random(std::random_device{}()),
        writer(testclient::make_call_identity(random), std::move(params)),
        ws(port, "/media", headers, reading) {}

  void start() {
    ws.send_text(writer.connected());
    ws.send_text(writer.start());
  }
  // Frame i carries bytes all equal to (i % 256), so receivers can check order.
  std::string media(std::size_t i) {
    const std::vector<std::uint8_t> frame(160, static_cast<std::uint8_t>(i % 256));
    auto text = writer.media(frame);
    ws.send_text(text);
    return text;
  }
  // Frame i carries i as a 32-bit big-endian sequence number in its first 4 bytes.
  void numbered_media(std::uint32_t i) {
    std::vector<std::uint8_t> frame(160, 0xff);
    for (int b = 0; b < 4; ++b) frame[b] = static_cast<std::uint8_t>(i >> (24 - 8 * b));
    ws.send_text(writer.media(frame));
  }
  void stop() { ws.send_text(writer.stop()); }

  std::mt19937_64 random;
  testclient::TwilioStreamWriter writer;
  WsClient ws;
};

// The value of `series` (name and labels, exactly as serve writes them) in serve's /metrics.
// The value of `series` in a /metrics text already scraped.
inline double metric_in(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) FAIL("no series " << series << " in /metrics");
  return std::stod(text.substr(at + series.size() + 2));
}
inline double metric(unsigned short port, const std::string& series) {
  return metric_in(http_request(port, "GET", "/metrics").body, series);
}

// VmRSS of a process in KiB (-1 if it cannot be read).
inline long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// serve's line for a backend cut off because its queue would pass a bound ("fell behind (B bytes
// in M messages queued, limit L bytes)"): what was queued when the next message was refused. The
// byte bound cut it when bytes <= limit and messages stayed under the message bound (4096).
struct QueueCut {
  std::size_t bytes = 0, messages = 0, limit = 0;
};
inline QueueCut queue_cut_of(const std::string& line) {
  static const std::regex shape(R"(fell behind \((\d+) bytes in (\d+) messages queued, limit (\d+) bytes\))");
  std::smatch m;
  INFO(line);
  REQUIRE(std::regex_search(line, m, shape));
  return {std::stoul(m[1]), std::stoul(m[2]), std::stoul(m[3])};
}

}  // namespace callproxy::test
