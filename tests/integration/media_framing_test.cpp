// The media stream's WebSocket framing, byte by byte: serve frames the Twilio side itself
// (net/raw_websocket.h), so what Beast used to guarantee is held here with hand-made frames:
// fragments, pings among fragments, the close handshake, every protocol violation closed with
// its code (1002, 1007, 1009) and only that stream, and pings from a peer that never reads.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "net/delayed_acks.h"
#include "support/child_process.h"
#include "support/http_client.h"
#include "support/in_process_serve.h"
#include "support/media_call.h"
#include "support/wait.h"
#include "support/ws_peer.h"
#include "testclient/twilio_stream_writer.h"
#include "twilio/backend_protocol.h"

using namespace callproxy;
using namespace std::chrono_literals;

namespace {

// A WebSocket client made of raw bytes: whatever frame a test wants, however wrong.
class RawClient {
 public:
  explicit RawClient(unsigned short port, const std::string& version = "13") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("connect failed");
    }
    send_bytes("GET /media HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: " +
               version + "\r\n\r\n");
    while (in_.find("\r\n\r\n") == std::string::npos) {
      if (!fill(5s)) throw std::runtime_error("no handshake answer");
    }
    const auto end = in_.find("\r\n\r\n") + 4;
    response_ = in_.substr(0, end);
    in_.erase(0, end);
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  const std::string& response() const { return response_; }

  void send_bytes(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      sent += static_cast<std::size_t>(n);
    }
  }
  // One frame: `first` is the FIN/RSV/opcode byte; masked unless told otherwise.
  static std::string frame(std::uint8_t first, const std::string& payload, bool masked = true) {
    std::string out(1, static_cast<char>(first));
    const char mask_bit = masked ? static_cast<char>(0x80) : 0;
    if (payload.size() < 126) {
      out += static_cast<char>(mask_bit | static_cast<char>(payload.size()));
    } else if (payload.size() <= 0xFFFF) {
      out += static_cast<char>(mask_bit | 126);
      out += static_cast<char>(payload.size() >> 8);
      out += static_cast<char>(payload.size() & 0xFF);
    } else {
      out += static_cast<char>(mask_bit | 127);
      for (int i = 7; i >= 0; --i) out += static_cast<char>((payload.size() >> (8 * i)) & 0xFF);
    }
    if (!masked) return out + payload;
    const char key[4] = {0x1b, 0x7e, 0x42, static_cast<char>(0xc9)};
    out.append(key, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) out += static_cast<char>(payload[i] ^ key[i % 4]);
    return out;
  }
  void send_frame(std::uint8_t first, const std::string& payload, bool masked = true) {
    send_bytes(frame(first, payload, masked));
  }
  void send_text(const std::string& text) { send_frame(0x81, text); }

  struct Frame {
    int opcode = -1;
    std::string payload;
  };
  // The next frame from serve, or nullopt once the connection ended or `timeout` passed.
  std::optional<Frame> read_frame(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (in_.size() >= 2) {
        const auto b1 = static_cast<std::uint8_t>(in_[1]);
        std::size_t at = 2;
        std::uint64_t length = b1 & 0x7F;
        if (length == 126 && in_.size() >= 4) {
          length = (static_cast<std::uint8_t>(in_[2]) << 8) | static_cast<std::uint8_t>(in_[3]);
          at = 4;
        }
        REQUIRE((b1 & 0x80) == 0);  // a server never masks
        if (length != 126 && in_.size() >= at + length) {
          Frame f{static_cast<std::uint8_t>(in_[0]) & 0x0F, in_.substr(at, length)};
          in_.erase(0, at + length);
          return f;
        }
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                              std::chrono::steady_clock::now());
      if (left.count() <= 0 || !fill(left)) return std::nullopt;
    }
  }
  // The close frame's code (0 when none came before the connection ended).
  int close_code(std::chrono::milliseconds timeout = 5s) {
    while (auto f = read_frame(timeout)) {
      if (f->opcode == 8) {
        if (f->payload.size() < 2) return 1005;
        return (static_cast<std::uint8_t>(f->payload[0]) << 8) | static_cast<std::uint8_t>(f->payload[1]);
      }
    }
    return 0;
  }
  // Sends a FIN: nothing more from this side, the connection still reads.
  void shut_down_sending() { ::shutdown(fd_, SHUT_WR); }
  // Whether serve ended the TCP connection (end of stream) within `timeout`.
  bool ended(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      in_.clear();
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buffer[4096];
      const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  bool fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buffer[65536];
    const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    in_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string in_;
  std::string response_;
};

std::string close_payload(int code, const std::string& reason = "") {
  std::string out{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return out + reason;
}

// connected and start, naming `backend`, as Twilio sends them; returns the writer for media.
testclient::TwilioStreamWriter start_call(RawClient& client, const test::BackendServer& backend) {
  std::mt19937_64 random(11);
  testclient::TwilioStreamWriter writer(testclient::make_call_identity(random),
                                        {{"backendHosts", "[\"" + backend.host_port() + "\"]"}});
  client.send_text(writer.connected());
  client.send_text(writer.start());
  return writer;
}

}  // namespace

TEST_CASE("the media stream's handshake answers RFC 6455's example key", "[media][framing]") {
  auto serve = test::start_serve();
  RawClient client(serve.port);
  CHECK(client.response().rfind("HTTP/1.1 101 ", 0) == 0);
  CHECK(client.response().find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
  CHECK(client.response().find("Server: callproxy\r\n") != std::string::npos);
  // A version other than 13 is refused with the version serve speaks.
  RawClient old(serve.port, "8");
  CHECK(old.response().rfind("HTTP/1.1 426 ", 0) == 0);
  CHECK(old.response().find("Sec-WebSocket-Version: 13") != std::string::npos);
}

TEST_CASE("a handshake whose key is short, not canonical or given twice is refused 400, and logged as refused",
          "[media][framing][bad-input]") {
  auto serve = test::start_serve();
  const auto upgrade = [&](const std::string& key_lines) {
    return test::parse_reply(test::raw_exchange(
        serve.port, "GET /media HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                        key_lines + "Sec-WebSocket-Version: 13\r\n\r\n"));
  };
  for (const std::string lines : {"Sec-WebSocket-Key: c2hvcnQ=\r\n",                  // 5 bytes
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n",  // stray low bits
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: "
                                  "dGhlIHNhbXBsZSBub25jZQ==\r\n",  // twice
                                  ""}) {                           // none
    INFO(lines);
    const auto reply = upgrade(lines);
    CHECK(reply.status == 400);
    CHECK(reply.body.find("Sec-WebSocket-Key") != std::string::npos);
  }
  RawClient fine(serve.port);  // the same request with one canonical key
  CHECK(fine.response().rfind("HTTP/1.1 101 ", 0) == 0);
  // The access log says what the client got: 400 four times, 101 once.
  serve.process->wait_for_stderr("GET /media 101 ");
  const auto log = serve.process->err();
  CHECK(test::count_of(log, "GET /media 400 ") == 4);
  CHECK(test::count_of(log, "GET /media 101 ") == 1);
}

TEST_CASE("fragmented messages with pings among the fragments arrive whole, pings are answered", "[media][framing]") {
  test::BackendServer backend;
  auto serve = test::start_serve();
  RawClient client(serve.port);
  auto writer = start_call(client, backend);
  REQUIRE(backend.wait_for_messages(1));

  const std::vector<std::uint8_t> audio(160, 0x55);
  const auto media = writer.media(audio);
  const auto third = media.size() / 3;
  client.send_frame(0x01, media.substr(0, third));      // text, not final
  client.send_frame(0x89, "ping-1");                    // a ping between fragments
  client.send_frame(0x00, media.substr(third, third));  // continuation
  client.send_frame(0x80, media.substr(2 * third));     // final continuation
  const auto pong = client.read_frame();
  REQUIRE(pong);
  CHECK(pong->opcode == 10);
  CHECK(pong->payload == "ping-1");
  REQUIRE(backend.wait_for_messages(2));
  const auto read = twilio::read_backend_message(backend.messages()[1]);
  REQUIRE(read.ok());
  const auto* forwarded = std::get_if<twilio::MediaMessage>(&read.value().message);
  REQUIRE(forwarded);

  // A message split into as many small frames as --max-message-fragments allows (128).
  const auto second = writer.media(audio);
  const std::size_t piece = (second.size() + 127) / 128;
  client.send_frame(0x01, second.substr(0, piece));
  std::size_t at = piece, frames = 1;
  for (; at + piece < second.size(); at += piece, ++frames) client.send_frame(0x00, second.substr(at, piece));
  client.send_frame(0x80, second.substr(at));
  CHECK(frames + 1 <= 128);
  REQUIRE(backend.wait_for_messages(3));

  // The close handshake: serve echoes the code and ends the connection; the backend hears stop.
  client.send_frame(0x88, close_payload(1000, "bye"));
  CHECK(client.close_code() == 1000);
  CHECK(client.ended());
  REQUIRE(test::eventually([&] {
    const auto messages = backend.messages();
    return !messages.empty() && messages.back().find("\"stop\"") != std::string::npos;
  }));
}

TEST_CASE("each protocol violation closes only its stream, with 1002, 1007 or 1009", "[media][framing][bad-input]") {
  test::BackendServer backend;
  auto serve = test::start_serve({"--max-message-bytes", "4096"});
  RawClient bystander(serve.port);
  auto writer = start_call(bystander, backend);
  REQUIRE(backend.wait_for_messages(1));

  struct Case {
    const char* what;
    std::string bytes;
    int code;
  };
  const std::vector<Case> cases{
      {"an unmasked frame", RawClient::frame(0x81, "{}", false), 1002},
      {"a reserved bit (compression was never agreed)", RawClient::frame(0xC1, "{}"), 1002},
      {"an unknown opcode", RawClient::frame(0x83, "{}"), 1002},
      {"a fragmented ping", RawClient::frame(0x09, "x"), 1002},
      {"a continuation with no message", RawClient::frame(0x80, "{}"), 1002},
      {"a new message inside a fragmented one", RawClient::frame(0x01, "{") + RawClient::frame(0x81, "{}"), 1002},
      {"a close with code 1005", RawClient::frame(0x88, close_payload(1005)), 1002},
      {"a close of one byte", RawClient::frame(0x88, "x"), 1002},
      {"a length not in its shortest form", std::string("\x81\xFE\x00\x02\x00\x00\x00\x00{}", 10), 1002},
      {"text that is not UTF-8", RawClient::frame(0x81, "{\"event\":\"\xC3\x28\"}"), 1007},
      {"a frame over --max-message-bytes", RawClient::frame(0x81, std::string(5000, ' ')), 1009},
      {"fragments adding up to more",
       RawClient::frame(0x01, std::string(3000, ' ')) + RawClient::frame(0x80, std::string(3000, ' ')), 1009},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    RawClient client(serve.port);
    client.send_bytes(c.bytes);
    CHECK(client.close_code() == c.code);
    CHECK(client.ended());
  }
  // The bystander's call went on through all of it.
  bystander.send_text(writer.media(std::vector<std::uint8_t>(160, 7)));
  REQUIRE(backend.wait_for_messages(2));
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
}

TEST_CASE("a stream serve closed gives its call place back however its reading ends, a flood then a FIN included",
          "[media][framing][bad-input][limits]") {
  auto serve = test::start_serve({"--max-calls", "1", "--start-timeout", "1"});
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    std::optional<RawClient> client;
    // The one call place may still be held by the last round's lingering socket: it comes back.
    REQUIRE(test::eventually([&] {
      try {
        client.emplace(serve.port);
        return client->response().rfind("HTTP/1.1 101 ", 0) == 0;
      } catch (const std::exception&) {
        return false;
      }
    }));
    // No start: serve closes the stream (1008) and waits for our close. We answer with 4 KiB of
    // empty frames (more than a turn's budget of frames and more than one read) and a FIN.
    CHECK(client->close_code() == 1008);
    std::string frames;
    while (frames.size() < 4096) frames += RawClient::frame(0x89, "");
    client->send_bytes(frames);
    client->shut_down_sending();
    CHECK(client->ended());
  }
  // The place is free again for a stream that starts.
  CHECK(test::eventually([&] {
    try {
      RawClient last(serve.port);
      return last.response().rfind("HTTP/1.1 101 ", 0) == 0;
    } catch (const std::exception&) {
      return false;
    }
  }));
}

TEST_CASE("pings from a peer that never reads grow nothing", "[media][framing][bad-input]") {
  // The ping limit out of reach: what is bounded here is what the pongs may grow.
  auto serve = test::start_serve({"--max-control-frames", "1000000"});
  const auto pid = serve.process->pid();
  RawClient warm(serve.port);  // the first stream's one-time costs before the baseline
  warm.send_frame(0x89, "x");
  REQUIRE(warm.read_frame());
  const auto before = test::rss_kib(pid);
  RawClient flood(serve.port);
  const std::string ping = RawClient::frame(0x89, std::string(125, 'p'));
  std::string burst;
  for (int i = 0; i < 1000; ++i) burst += ping;
  // 40 MB of pings whose 40 MB of pongs nobody reads (the socket buffers fill after a few MB).
  for (int i = 0; i < 300; ++i) flood.send_bytes(burst);
  const auto after = test::rss_kib(pid);
  INFO("RSS before " << before << " KiB, after " << after << " KiB");
  CHECK(after - before < 16 * 1024);
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
}

namespace {
// Open descriptors of process `pid`.
std::size_t open_descriptors(pid_t pid) {
  std::size_t count = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++count;
  }
  return count;
}
}  // namespace

TEST_CASE("streams closed for a protocol error hold their places while they linger: a flood of them cannot use up "
          "the descriptors",
          "[media][framing][bad-input][limits]") {
  // The attacker holds ~500 sockets at once: this process may need more than a default soft limit.
  rlimit own{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &own) == 0);
  own.rlim_cur = own.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &own);
  REQUIRE(own.rlim_cur >= 1024);

  constexpr std::size_t fd_limit = 256;
  test::BackendServer backend;
  auto serve = test::start_serve(
      {"--threads", "1"}, {},
      {"/usr/bin/prlimit", "--nofile=" + std::to_string(fd_limit) + ":" + std::to_string(fd_limit), "--"});
  std::vector<std::unique_ptr<test::TwilioCall>> calls;
  for (int i = 0; i < 5; ++i) {
    calls.push_back(std::make_unique<test::TwilioCall>(
        serve.port, std::map<std::string, std::string>{{"backendHosts", "[\"" + backend.host_port() + "\"]"}}));
    calls.back()->start();
  }
  REQUIRE(backend.wait_for_connections(5));

  // 200 upgrades a second for 3 s, each then sending an unmasked frame (closed with 1002); the
  // attacker keeps each socket open 2.5 s, so serve's end lingers its full 2 s.
  const std::string upgrade = "GET /media HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  const std::string unmasked = RawClient::frame(0x81, "{}", false);
  using Clock = std::chrono::steady_clock;
  std::deque<std::pair<Clock::time_point, int>> held;
  std::size_t most_descriptors = 0, frame = 0;
  const auto start = Clock::now();
  for (auto next = start; next < start + 3s; next += 5ms) {
    std::this_thread::sleep_until(next);  // the attacker's pace
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(serve.port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        ::send(fd, upgrade.data(), upgrade.size(), MSG_NOSIGNAL) > 0) {
      // The frame once the 101 came (a client sends nothing before it); a 503 gets nothing more.
      pollfd p{fd, POLLIN, 0};
      char answer[512];
      if (::poll(&p, 1, 1000) == 1 && ::recv(fd, answer, sizeof answer, 0) > 12 &&
          std::string_view(answer, 13) == "HTTP/1.1 101 ") {
        ::send(fd, unmasked.data(), unmasked.size(), MSG_NOSIGNAL);
      }
    }
    held.emplace_back(Clock::now(), fd);
    while (!held.empty() && held.front().first < Clock::now() - 2500ms) {
      ::close(held.front().second);
      held.pop_front();
    }
    if ((next - start) % 50ms == 0ms) {
      most_descriptors = std::max(most_descriptors, open_descriptors(serve.process->pid()));
      for (auto& call : calls) call->media(frame);
      ++frame;
    }
  }
  for (const auto& [when, fd] : held) ::close(fd);
  INFO("serve's descriptors peaked at " << most_descriptors << " of " << fd_limit);
  CHECK(most_descriptors < fd_limit - 8);
  CHECK(serve.process->err().find("Too many open files") == std::string::npos);
  // Every good call lived through it: a frame sent now reaches the backend on each connection.
  for (auto& call : calls) call->media(frame);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    CHECK(backend.wait_for_messages(frame + 2, i));
    CHECK_FALSE(calls[i]->ws.wait_closed(0ms));
  }
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
}

namespace {
// This process's descriptor for serve's end of the connection from local port `peer_port` to
// serve's `port` (serve runs in-process here), or -1.
int serve_side_socket(unsigned short port, unsigned short peer_port) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    sockaddr_in local{}, peer{};
    socklen_t local_size = sizeof local, peer_size = sizeof peer;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) != 0 || local.sin_family != AF_INET ||
        ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) {
      continue;
    }
    if (ntohs(local.sin_port) == port && ntohs(peer.sin_port) == peer_port) return fd;
  }
  return -1;
}
}  // namespace

TEST_CASE("a started call's Twilio socket acknowledges two frames at a time, as a plain relay's does", "[media]") {
  test::BackendServer backend;
  proxy::ServeOptions options;
  options.threads = 1;
  options.store = "memory";
  test::InProcessServe serve(std::move(options));  // in-process: its sockets are this process's
  test::WsClient call(serve.port());
  int fd = -1;
  REQUIRE(test::eventually([&] { return (fd = serve_side_socket(serve.port(), call.local_port())) >= 0; }, 5s));
  // A message, then a pause longer than the delayed-ACK timer: the kernel acknowledges it when
  // the timer fires and leaves ping-pong mode, for good unless someone puts it back; every frame
  // would then be acknowledged on its own (what a call's set-up did to every call).
  call.send_text(R"({"event":"connected","protocol":"Call","version":"1.0.0"})");
  REQUIRE(test::eventually([&] { return net::acks_at_once(fd); }, 5s));
  call.send_text(
      nlohmann::json{{"event", "start"},
                     {"sequenceNumber", "1"},
                     {"start",
                      {{"streamSid", "MZA"},
                       {"callSid", "CAA"},
                       {"tracks", {"inbound"}},
                       {"customParameters", {{"backendHosts", nlohmann::json::array({backend.host_port()}).dump()}}}}}}
          .dump());
  REQUIRE(backend.wait_for_messages(1, 0, 5s));
  CHECK(test::eventually([&] { return !net::acks_at_once(fd); }, 5s));
}

TEST_CASE("a sender that waits for each ACK is left with an ACK per frame, not held up at every idle tick", "[media]") {
  test::BackendServer backend;
  proxy::ServeOptions options;
  options.threads = 1;
  options.store = "memory";
  options.media.stream_idle_timeout = 2s;  // an idle tick each second
  test::InProcessServe serve(std::move(options));
  test::WsClient call(serve.port());
  int fd = -1;
  REQUIRE(test::eventually([&] { return (fd = serve_side_socket(serve.port(), call.local_port())) >= 0; }, 5s));
  std::mt19937_64 random(7);
  testclient::TwilioStreamWriter writer(testclient::make_call_identity(random),
                                        {{"backendHosts", nlohmann::json::array({backend.host_port()}).dump()}});
  call.send_text(writer.connected());
  call.send_text(writer.start());
  REQUIRE(backend.wait_for_messages(1, 0, 5s));
  // Frames 100 ms apart, longer than the delayed-ACK timer (40 ms on loopback): every frame makes
  // the kernel leave delayed-ACK mode, as a sender with Nagle on does at 20 ms (it sends nothing
  // until its last frame is acknowledged). Each renewal would hold such a sender's next frame
  // until the timer fires. Past two ticks that found the mode lost (2 s), serve renews it no more:
  // over the next 1.5 s, a tick included, the socket acknowledges every frame at once.
  const auto frame = std::vector<std::uint8_t>(160, 7);
  std::size_t sent = 0;
  const auto paced = [&](std::chrono::milliseconds duration, const std::function<void()>& each_10ms) {
    const auto begin = std::chrono::steady_clock::now();
    auto next_frame = begin;
    while (std::chrono::steady_clock::now() - begin < duration) {
      if (std::chrono::steady_clock::now() >= next_frame) {
        call.send_text(writer.media(frame));
        ++sent;
        next_frame += 100ms;
      }
      each_10ms();
      std::this_thread::sleep_for(10ms);
    }
  };
  paced(2500ms, [] {});
  std::size_t looks = 0, delayed = 0;
  paced(1500ms, [&] {
    ++looks;
    delayed += !net::acks_at_once(fd);
  });
  INFO(delayed << " of " << looks << " looks found delayed ACKs on");
  CHECK(looks > 50);
  CHECK(delayed == 0);
  // The frames all went through.
  CHECK(backend.wait_for_messages(1 + sent, 0, 5s));
}
