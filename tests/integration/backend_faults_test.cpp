// Backends that misbehave, against the real binary on loopback: one that refuses, one whose TCP
// or WebSocket handshake never completes, one that never reads or reads slowly, one that closes
// in the middle of a frame, one that sends what is not WebSocket, one that replies faster than
// real time. In each, a faulty call runs beside three calls that behave (the bystanders): their
// frames must reach their backends complete and in order, serve's memory must stay bounded, and
// the faulty backend must end as docs/serve.md says (left out, dropped and counted, or reconnected).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>

#include "support/child_process.h"
#include "support/media_call.h"
#include "support/raw_backend.h"
#include "support/wait.h"
#include "support/ws_peer.h"
#include "twilio/backend_protocol.h"
#include "twilio/base64.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;
using test::BackendServer;
using test::eventually;
using test::metric;
using test::RawBackend;
using test::TwilioCall;
using Behaviour = test::RawBackend::Behaviour;

namespace {

constexpr long rss_growth_limit_kib = 64 * 1024;

// The sequence numbers (TwilioCall::numbered_media) of the media messages among `texts`.
std::vector<std::uint32_t> sequence_numbers(const std::vector<std::string>& texts) {
  std::vector<std::uint32_t> out;
  for (const auto& text : texts) {
    const auto read = twilio::read_backend_message(text);
    REQUIRE(read.ok());
    const auto* media = std::get_if<twilio::MediaMessage>(&read.value().message);
    if (!media) continue;
    const auto bytes = twilio::base64_decode(media->payload);
    REQUIRE(bytes);
    REQUIRE(bytes->size() == 160);
    out.push_back((std::uint32_t{(*bytes)[0]} << 24) | (std::uint32_t{(*bytes)[1]} << 16) |
                  (std::uint32_t{(*bytes)[2]} << 8) | std::uint32_t{(*bytes)[3]});
  }
  return out;
}

std::string event_of(const std::string& text) { return json::parse(text).at("event").get<std::string>(); }

// A backend's whole call: start, frames first..first+count-1 in order, each once, then stop.
void expect_whole_call(const std::vector<std::string>& texts, std::uint32_t first, std::uint32_t count) {
  REQUIRE(texts.size() == count + 2);
  CHECK(event_of(texts.front()) == "start");
  CHECK(event_of(texts.back()) == "stop");
  const auto numbers = sequence_numbers(texts);
  REQUIRE(numbers.size() == count);
  for (std::uint32_t i = 0; i < count; ++i) REQUIRE(numbers[i] == first + i);
}

// serve, three bystander calls (each to a backend of its own) and the faulty call, whose
// backends are the faulty one (first: the primary) and a healthy partner.
struct Scene {
  explicit Scene(std::vector<std::string> serve_args, const std::string& faulty_backend,
                 test::WsClient::Reading faulty_caller_reads = test::WsClient::Reading::on)
      : serve(test::start_serve(std::move(serve_args))) {
    for (int i = 0; i < 3; ++i) {
      bystander_backends.push_back(std::make_unique<BackendServer>());
      bystanders.push_back(std::make_unique<TwilioCall>(
          serve.port, std::map<std::string, std::string>{
                          {"backendHosts", json::array({bystander_backends.back()->host_port()}).dump()}}));
      bystanders.back()->start();
    }
    faulty = std::make_unique<TwilioCall>(
        serve.port,
        std::map<std::string, std::string>{{"backendHosts", json::array({faulty_backend, partner.host_port()}).dump()}},
        std::map<std::string, std::string>{}, faulty_caller_reads);
    faulty->start();
    for (const auto& b : bystander_backends) REQUIRE(b->wait_for_messages(1));
    REQUIRE(partner.wait_for_messages(1));
    rss_before = test::rss_kib(serve.process->pid());
  }

  // `frames` more numbered frames on every call, faster than real time; the healthy backends
  // are waited for every 50 frames so that their backlog stays within socket buffers.
  void stream(std::uint32_t frames) {
    for (std::uint32_t i = 0; i < frames; ++i, ++sent) {
      for (auto& call : bystanders) call->numbered_media(sent);
      faulty->numbered_media(sent);
      if (sent % 50 == 49) wait_for_healthy(sent + 2);
    }
  }

  // Streams until serve cuts the faulty backend off for falling behind (socket buffers absorb a
  // few MB first; 20,000 frames at most), then checks that it alone went.
  void stream_until_faulty_backend_is_cut_off() {
    const auto cut = [&] { return metric(serve.port, "callproxy_backend_lag_disconnects_total"); };
    for (int round = 0; round < 40 && cut() == 0; ++round) stream(500);
    CHECK(cut() == 1);
    CHECK(eventually([&] { return open_links() == 4; }));  // the bystanders' and the partner
  }

  void wait_for_healthy(std::size_t messages) {
    for (const auto& b : bystander_backends) REQUIRE(b->wait_for_messages(messages, 0, 30s));
    REQUIRE(partner.wait_for_messages(messages, 0, 30s));
  }

  // Ends every call; the bystanders' and the partner's backends have the whole call, and serve's
  // RSS grew by less than 64 MiB (allocator slack and ASan's quarantine included).
  void finish() {
    for (auto& call : bystanders) call->stop();
    faulty->stop();
    for (std::size_t i = 0; i < bystander_backends.size(); ++i) {
      INFO("bystander " << i);
      REQUIRE(bystander_backends[i]->wait_for_messages(sent + 2, 0, 30s));
      expect_whole_call(bystander_backends[i]->messages(), 0, sent);
    }
    INFO("the faulty call's healthy backend");
    REQUIRE(partner.wait_for_messages(sent + 2, 0, 30s));
    expect_whole_call(partner.messages(), 0, sent);
    const long rss_after = test::rss_kib(serve.process->pid());
    INFO("serve's RSS before " << rss_before << " KiB, after " << rss_after << " KiB");
    CHECK(rss_after - rss_before < rss_growth_limit_kib);
    for (auto& call : bystanders) CHECK_FALSE(call->ws.wait_closed(0ms));
  }

  // After replies to a caller that reads nothing: the call itself went on, its caller still
  // connected (finish) and its primary, like its other backend, given every frame.
  void finish_with_primary(const BackendServer& primary) {
    stream(100);
    finish();
    REQUIRE(primary.wait_for_messages(sent + 2, 0, 30s));
    expect_whole_call(primary.messages(), 0, sent);
  }

  double open_links() const { return metric(serve.port, "callproxy_backend_links{state=\"open\"}"); }

  test::ServeProcess serve;
  std::vector<std::unique_ptr<BackendServer>> bystander_backends;
  std::vector<std::unique_ptr<TwilioCall>> bystanders;
  BackendServer partner;
  std::unique_ptr<TwilioCall> faulty;
  std::uint32_t sent = 0;
  long rss_before = 0;
};

// Bytes serve wrote to the connection from its port `serve_port` to `peer_port` that the peer has
// not read: serve's send queue and the peer's receive queue (/proc/net/tcp: IPv4 loopback).
std::size_t unread_bytes(unsigned short serve_port, unsigned short peer_port) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  const auto port_of = [](const std::string& address) {
    return std::stoul(address.substr(address.find(':') + 1), nullptr, 16);
  };
  std::size_t total = 0;
  int sides = 0;
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues;
    fields >> slot >> local >> remote >> state >> queues;
    const auto send_queue = std::stoul(queues.substr(0, queues.find(':')), nullptr, 16);
    const auto receive_queue = std::stoul(queues.substr(queues.find(':') + 1), nullptr, 16);
    if (port_of(local) == serve_port && port_of(remote) == peer_port) total += send_queue, ++sides;
    if (port_of(local) == peer_port && port_of(remote) == serve_port) total += receive_queue, ++sides;
  }
  REQUIRE(sides == 2);
  return total;
}

// A WebSocket frame's bytes on the wire, from server to client (unmasked), for a text of `size`.
std::size_t frame_bytes(std::size_t size) { return size + (size < 126 ? 2 : size < 65536 ? 4 : 10); }

// What the reply queue held while a caller read nothing.
struct ReplyBacklog {
  std::size_t queued = 0;       // replies in serve's queue (beyond what the kernel holds)
  std::size_t reply_bytes = 0;  // one reply as sent to the caller
};

// The faulty call's primary replies `audio_bytes` of audio per message, in bursts of `burst`, to
// a caller that reads nothing, until serve drops replies (the socket buffers full, then the reply
// queue). Then the caller reads: it gets every reply serve kept, and, the queue drained, a reply
// sent after that. The rest of the call, the bystanders and serve's RSS are checked by finish().
ReplyBacklog fill_reply_queue(Scene& scene, BackendServer& primary, std::size_t audio_bytes, int burst) {
  REQUIRE(primary.wait_for_messages(1));  // the call's start: the primary is connected
  const auto port = scene.serve.port;
  const auto relayed = [&] { return metric(port, "callproxy_replies_relayed_total"); };
  const auto dropped = [&] { return metric(port, "callproxy_frames_dropped_total{reason=\"twilio_lag\"}"); };
  const auto reply = twilio::write_simple_media(twilio::base64_encode(std::vector<std::uint8_t>(audio_bytes, 0x7f)));
  double sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (dropped() == 0 && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < burst; ++i) primary.send_text(reply);
    sent += burst;
    scene.stream(25);  // the caller streams on, as Twilio does
    REQUIRE(eventually([&] { return relayed() + dropped() == sent; }, 30s));
  }
  REQUIRE(dropped() > 0);
  // Serve writes no more once the kernel holds what it can: wait until what is unread settles.
  auto& caller = scene.faulty->ws;
  std::size_t unread = 0;
  REQUIRE(eventually([&] {
    const auto now = unread_bytes(port, caller.local_port());
    return std::exchange(unread, now) == now;
  }));
  const auto kept = static_cast<std::size_t>(relayed());
  const auto drops = dropped();
  INFO("sent " << sent << ", relayed " << kept << ", dropped " << drops << ", unread in the kernel " << unread);

  caller.start_reading();
  ReplyBacklog backlog;
  for (std::size_t i = 0; i < kept; ++i) {
    const auto text = caller.receive(10s);
    REQUIRE(text);
    if (i == 0) backlog.reply_bytes = text->size();
    REQUIRE(text->size() == backlog.reply_bytes);
  }
  // The queue drained, a reply gets through again, and nothing more was dropped.
  const auto last = twilio::write_simple_media(twilio::base64_encode(std::vector<std::uint8_t>(160, 0x11)));
  primary.send_text(last);
  const auto after = caller.receive(10s);
  REQUIRE(after);
  CHECK(after->find(twilio::base64_encode(std::vector<std::uint8_t>(160, 0x11))) != std::string::npos);
  CHECK(dropped() == drops);
  // Every reply the kernel did not hold (whole: the front one, partly written, is still queued) was in the queue.
  backlog.queued = kept - unread / frame_bytes(backlog.reply_bytes);
  return backlog;
}

// How long `condition` took to hold (fails the test past `limit`).
std::chrono::milliseconds time_until(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  const auto begin = std::chrono::steady_clock::now();
  REQUIRE(eventually(condition, limit));
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - begin);
}

}  // namespace

TEST_CASE("a backend that refuses connections is left out and counted, its call and the others go on",
          "[backend-faults]") {
  const auto nobody = "127.0.0.1:" + std::to_string(test::free_port());
  Scene scene({}, nobody);
  CHECK(eventually([&] { return metric(scene.serve.port, "callproxy_backend_connect_failures_total") == 1; }));
  CHECK(scene.open_links() == 4);  // the bystanders' and the partner
  scene.stream(500);
  scene.finish();
}

TEST_CASE("a backend whose TCP handshake never completes is given up at --backend-connect-timeout",
          "[backend-faults]") {
  const auto listener = RawBackend::never_accepting();
  Scene scene({"--backend-connect-timeout", "1"}, listener->host_port());
  const auto took = time_until(
      [&] { return metric(scene.serve.port, "callproxy_backend_connect_failures_total") == 1; }, 10s);
  CHECK(took < 4s);
  CHECK(scene.open_links() == 4);
  scene.stream(500);
  scene.finish();
}

// Found by reading the code: the connect timeout covered the TCP connect only, and the WebSocket
// handshake then had Beast's own 30 s: a backend that accepted and never answered the upgrade
// held its link "connecting" for 30 s.
TEST_CASE("a backend that never answers the WebSocket handshake is given up at --backend-connect-timeout",
          "[backend-faults]") {
  RawBackend silent({Behaviour::no_answer});
  Scene scene({"--backend-connect-timeout", "1"}, silent.host_port());
  REQUIRE(silent.wait_for_connections(1));
  const auto took = time_until(
      [&] { return metric(scene.serve.port, "callproxy_backend_connect_failures_total") == 1; }, 40s);
  CHECK(took < 4s);
  CHECK(silent.wait_closed(0, 5s));  // serve let go of the connection
  CHECK(scene.open_links() == 4);
  scene.stream(500);
  scene.finish();
}

TEST_CASE("a backend that never reads is dropped at --max-backend-queue-bytes, memory bounded", "[backend-faults]") {
  RawBackend stalled({Behaviour::stall});
  // Only the byte bound can trip: the lag bound is far away, and 64 KiB of frames (about 270 of
  // them) is far below the message bound (4096), which would cut the backend too, later, were
  // the byte bound wrong: so the log line must show the bytes, not only the cut.
  Scene scene({"--max-backend-queue-bytes", "65536", "--max-backend-lag", "600"}, stalled.host_port());
  scene.stream_until_faulty_backend_is_cut_off();
  const auto cut = test::queue_cut_of(scene.serve.process->wait_for_stderr("messages queued, limit"));
  CHECK(cut.limit == 65536);
  CHECK(cut.bytes <= 65536);
  CHECK(cut.bytes > 65536 - 1024);  // full: the next frame (under 300 bytes) did not fit
  CHECK(cut.messages < 1000);
  scene.finish();
  CHECK_FALSE(scene.faulty->ws.wait_closed(0ms));
}

TEST_CASE("a backend that reads slower than the stream is dropped at --max-backend-lag, what it read in order",
          "[backend-faults][slow]") {
  RawBackend slow({Behaviour::slow_reader});
  Scene scene({"--max-backend-lag", "0.5"}, slow.host_port());
  scene.stream_until_faulty_backend_is_cut_off();
  scene.finish();
  // What it managed to read was the call from its start, in order, nothing skipped.
  const auto texts = slow.messages(0);
  REQUIRE_FALSE(texts.empty());
  CHECK(event_of(texts.front()) == "start");
  const auto numbers = sequence_numbers(texts);
  for (std::uint32_t i = 0; i < numbers.size(); ++i) REQUIRE(numbers[i] == i);
}

TEST_CASE("a backend that closes in the middle of a frame is reconnected and gets the live stream again",
          "[backend-faults]") {
  RawBackend flaky({Behaviour::half_frame, Behaviour::normal});
  Scene scene({}, flaky.host_port());
  scene.stream(2);  // the backend closes after the start and two frames
  REQUIRE(flaky.wait_closed(0));
  REQUIRE(flaky.wait_for_connections(2));
  REQUIRE(eventually([&] { return !flaky.messages(1).empty(); }));  // the start, again
  CHECK(eventually([&] { return metric(scene.serve.port, "callproxy_backend_reconnects_total") == 1; }));
  const auto first_live = scene.sent;
  scene.stream(500);
  scene.finish();
  REQUIRE(eventually([&] { return flaky.messages(1).size() == 500 + 2; }));
  expect_whole_call(flaky.messages(1), first_live, 500);
}

TEST_CASE("a backend that sends what is not WebSocket is dropped, counted and reconnected", "[backend-faults]") {
  const std::vector<Behaviour> faults{Behaviour::garbage, Behaviour::masked_frame, Behaviour::reserved_opcode,
                                      Behaviour::fragmented_control, Behaviour::invalid_utf8};
  auto behaviours = faults;
  behaviours.push_back(Behaviour::normal);
  RawBackend noisy(behaviours);
  Scene scene({}, noisy.host_port());
  REQUIRE(noisy.wait_for_connections(faults.size() + 1, 30s));
  for (std::size_t i = 0; i < faults.size(); ++i) {
    INFO("connection " << i);
    CHECK(noisy.wait_closed(i));
    // serve said why before it hung up: a protocol error, or data that is not UTF-8.
    CHECK(noisy.close_code(i) == (faults[i] == Behaviour::invalid_utf8 ? 1007 : 1002));
  }
  CHECK(eventually([&] {
    return metric(scene.serve.port, "callproxy_backend_reconnects_total") == static_cast<double>(faults.size());
  }));
  REQUIRE(eventually([&] { return noisy.messages(faults.size()).size() == 1; }));  // the start, again
  scene.stream(500);
  scene.finish();
  REQUIRE(eventually([&] { return noisy.messages(faults.size()).size() == 500 + 2; }));
  expect_whole_call(noisy.messages(faults.size()), 0, 500);
}

TEST_CASE("a backend whose 101 names a subprotocol serve never asked for is left out and counted",
          "[backend-faults][bad-input]") {
  RawBackend odd({Behaviour::unasked_subprotocol});
  Scene scene({}, odd.host_port());
  REQUIRE(odd.wait_for_connections(1));
  CHECK(eventually([&] { return metric(scene.serve.port, "callproxy_backend_connect_failures_total") == 1; }));
  CHECK(odd.wait_closed(0));
  CHECK(odd.messages(0).empty());  // no start on a connection whose handshake failed
  // The call goes on with its other backend.
  scene.stream(10);
  CHECK(scene.partner.wait_for_messages(1 + 10));
}

TEST_CASE("a primary that replies faster than real time to a caller that reads nothing is bounded by the reply queue",
          "[backend-faults]") {
  BackendServer primary;
  Scene scene({}, primary.host_port(), test::WsClient::Reading::off);
  REQUIRE(primary.wait_for_messages(1));
  // 800 replies of 24,000 bytes of audio (32,000 characters of base64): ~26 MB, far more than
  // the caller's socket buffers and the 1 MiB reply queue hold.
  const std::vector<std::uint8_t> audio(24000, 0x7f);
  const auto reply = twilio::write_simple_media(twilio::base64_encode(audio));
  constexpr int replies = 800;
  for (int i = 0; i < replies; ++i) primary.send_text(reply);
  const auto accounted = [&] {
    return metric(scene.serve.port, "callproxy_replies_relayed_total") +
           metric(scene.serve.port, "callproxy_frames_dropped_total{reason=\"twilio_lag\"}");
  };
  // The caller goes on streaming meanwhile, as Twilio does (a silent caller that does not answer
  // pings either would rightly be dropped at --stream-idle-timeout).
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (accounted() < replies && std::chrono::steady_clock::now() < deadline) scene.stream(25);
  INFO("relayed " << metric(scene.serve.port, "callproxy_replies_relayed_total") << ", dropped "
                  << metric(scene.serve.port, "callproxy_frames_dropped_total{reason=\"twilio_lag\"}"));
  REQUIRE(accounted() == replies);
  CHECK(metric(scene.serve.port, "callproxy_frames_dropped_total{reason=\"twilio_lag\"}") > 0);
  scene.finish_with_primary(primary);
}

TEST_CASE("replies waiting for a caller that reads nothing stop at --max-reply-queue, and flow again once it reads",
          "[backend-faults]") {
  BackendServer primary;
  // Small replies: the message bound trips long before --max-reply-queue-bytes' 1 MiB.
  Scene scene({"--max-reply-queue", "16"}, primary.host_port(), test::WsClient::Reading::off);
  const auto backlog = fill_reply_queue(scene, primary, 160, 1000);
  INFO("replies queued " << backlog.queued << " of " << backlog.reply_bytes << " bytes");
  CHECK(backlog.queued <= 16);  // the default (1024) would hold far more
  CHECK(backlog.queued >= 8);
  scene.finish_with_primary(primary);
}

TEST_CASE(
    "reply bytes waiting for a caller that reads nothing stop at --max-reply-queue-bytes, and flow again once it reads",
    "[backend-faults]") {
  BackendServer primary;
  // Replies of ~16 KB: 4 fit in 64 KiB, where the default 1 MiB would take 65.
  Scene scene({"--max-reply-queue-bytes", "65536"}, primary.host_port(), test::WsClient::Reading::off);
  const auto backlog = fill_reply_queue(scene, primary, 12000, 40);
  INFO("replies queued " << backlog.queued << " of " << backlog.reply_bytes << " bytes");
  CHECK(backlog.queued * backlog.reply_bytes <= 65536);
  CHECK(backlog.queued >= 2);
  scene.finish_with_primary(primary);
}
