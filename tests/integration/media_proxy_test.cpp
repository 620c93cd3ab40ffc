// serve's media proxy end to end: the real binary, a Twilio-side WebSocket client and real
// WebSocket backends on loopback.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <fstream>
#include <numeric>
#include <random>
#include <thread>

#include "support/child_process.h"
#include "support/http_client.h"
#include "support/media_call.h"
#include "support/test_secrets.h"
#include "support/wait.h"
#include "support/ws_peer.h"
#include "testclient/twilio_stream_writer.h"
#include "twilio/backend_protocol.h"
#include "twilio/base64.h"
#include "twilio/signature.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;
using test::BackendServer;
using test::metric;
using test::rss_kib;
using test::TwilioCall;
using test::WsClient;

namespace {

std::string backend_hosts(const std::vector<const BackendServer*>& backends) {
  json hosts = json::array();
  for (const auto* b : backends) hosts.push_back(b->host_port());
  return hosts.dump();
}

std::vector<json> parse_all(const std::vector<std::string>& texts) {
  std::vector<json> out;
  for (const auto& t : texts) out.push_back(json::parse(t));
  return out;
}

// The media messages a simple-format backend received, as the frame index each one carries.
std::vector<int> media_indexes(const std::vector<std::string>& texts) {
  std::vector<int> out;
  for (const auto& text : texts) {
    const auto read = twilio::read_backend_message(text);
    REQUIRE(read.ok());
    CHECK(read.value().format == twilio::BackendFormat::simple);
    const auto* media = std::get_if<twilio::MediaMessage>(&read.value().message);
    if (!media) continue;
    const auto bytes = twilio::base64_decode(media->payload);
    REQUIRE(bytes);
    REQUIRE(bytes->size() == 160);
    out.push_back((*bytes)[0]);
  }
  return out;
}

using test::eventually;

}  // namespace

TEST_CASE("a call fans out to three backends: every frame once and in order at each", "[media]") {
  BackendServer a, b, c;
  auto serve = test::start_serve();
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&a, &b, &c})}});
  call.start();
  // The burst below is 6 s of audio at once (Twilio never sends faster than real time): let the
  // backends connect first, or it would rightly count as lag behind a connecting backend.
  for (auto* backend : {&a, &b, &c}) REQUIRE(backend->wait_for_messages(1));
  constexpr int frames = 300;
  for (int i = 0; i < frames; ++i) call.media(static_cast<std::size_t>(i));
  call.stop();

  for (auto* backend : {&a, &b, &c}) {
    const bool complete = backend->wait_for_messages(frames + 2);  // start, the frames, stop
    INFO(serve.process->err() << "\nreceived " << backend->messages().size());
    REQUIRE(complete);
    REQUIRE(backend->wait_closed());
    const auto messages = parse_all(backend->messages());
    CHECK(messages.front().at("event") == "start");
    CHECK(messages.front().at("streamSid") == call.writer.identity().stream_sid);
    CHECK(messages.front().at("callSid") == call.writer.identity().call_sid);
    CHECK(messages.front().at("accountSid") == call.writer.identity().account_sid);
    CHECK(messages.front().at("mediaFormat").at("sampleRate") == 8000);
    CHECK(messages.back() == json{{"event", "stop"}});
    const auto indexes = media_indexes(backend->messages());
    REQUIRE(indexes.size() == frames);
    for (int i = 0; i < frames; ++i) REQUIRE(indexes[i] == i % 256);
    CHECK(backend->connections() == 1);
  }
  // The simple format's media message is exactly the Node service's shape, byte for byte.
  const auto silence = twilio::base64_encode(std::vector<std::uint8_t>(160, 0));
  CHECK(a.messages()[1] == R"({"event":"media","media":")" + silence + R"("})");
  CHECK(metric(serve.port, "callproxy_frames_in_total") == frames);
  CHECK(metric(serve.port, "callproxy_frames_out_total") == 3 * frames);
}

TEST_CASE("in twilio format a backend receives Twilio's frames byte for byte", "[media]") {
  BackendServer backend;
  auto serve = test::start_serve({"--backend-format", "twilio"});
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  std::vector<std::string> sent{call.writer.connected(), call.writer.start()};
  call.ws.send_text(sent[0]);
  call.ws.send_text(sent[1]);
  for (int i = 0; i < 50; ++i) sent.push_back(call.media(static_cast<std::size_t>(i)));
  call.ws.send_text(
      R"({"event":"dtmf","streamSid":"x","sequenceNumber":"60","dtmf":{"track":"inbound_track","digit":"7"}})");
  sent.push_back(
      R"({"event":"dtmf","streamSid":"x","sequenceNumber":"60","dtmf":{"track":"inbound_track","digit":"7"}})");
  sent.push_back(call.writer.stop());
  call.ws.send_text(sent.back());
  const bool all_arrived = backend.wait_for_messages(sent.size());
  INFO(serve.process->err() << "\nreceived " << backend.messages().size());
  REQUIRE(all_arrived);
  CHECK(backend.messages() == sent);
}

TEST_CASE("the primary's replies reach the caller with the call's streamSid, a listener's do not", "[media]") {
  BackendServer primary, listener;
  auto serve = test::start_serve();
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&primary, &listener})}});
  call.start();
  call.media(0);
  REQUIRE(primary.wait_for_messages(2));
  REQUIRE(listener.wait_for_messages(2));

  const std::string payload = twilio::base64_encode(std::string_view("\x01\x02\x03\x04"));
  listener.send_text(twilio::write_simple_media(payload));
  primary.send_text(twilio::write_simple_media(payload));
  primary.send_text(twilio::write_simple_mark("greeting-done"));
  primary.send_text(twilio::write_simple_clear());
  primary.send_text(
      twilio::write_backend_reply(twilio::BackendFormat::twilio, twilio::ReplyMedia{"MZ-wrong", payload}));

  const auto reply = call.ws.receive();
  REQUIRE(reply);
  CHECK(json::parse(*reply) ==
        json{{"event", "media"}, {"streamSid", call.writer.identity().stream_sid}, {"media", {{"payload", payload}}}});
  const auto mark = call.ws.receive();
  REQUIRE(mark);
  CHECK(json::parse(*mark) == json{{"event", "mark"},
                                   {"streamSid", call.writer.identity().stream_sid},
                                   {"mark", {{"name", "greeting-done"}}}});
  const auto clear = call.ws.receive();
  REQUIRE(clear);
  CHECK(json::parse(*clear) == json{{"event", "clear"}, {"streamSid", call.writer.identity().stream_sid}});
  const auto twilio_shaped = call.ws.receive();
  REQUIRE(twilio_shaped);
  CHECK(json::parse(*twilio_shaped).at("streamSid") == call.writer.identity().stream_sid);
  CHECK_FALSE(call.ws.receive(300ms));  // the listener's reply never arrives
  CHECK(metric(serve.port, "callproxy_replies_relayed_total") == 4);
  CHECK(metric(serve.port, "callproxy_replies_ignored_total") == 1);

  // Twilio echoes the mark when the audio before it has played: only the primary hears it.
  call.ws.send_text(R"({"event":"mark","sequenceNumber":"9","streamSid":")" + call.writer.identity().stream_sid +
                    R"(","mark":{"name":"greeting-done"}})");
  REQUIRE(primary.wait_for_messages(3));
  CHECK(primary.messages()[2] == R"({"event":"mark","name":"greeting-done"})");
  call.ws.send_text(
      R"({"event":"dtmf","streamSid":"x","sequenceNumber":"10","dtmf":{"track":"inbound_track","digit":"5"}})");
  REQUIRE(listener.wait_for_messages(3));
  CHECK(listener.messages()[2] == R"({"event":"dtmf","digit":"5"})");
  REQUIRE(primary.wait_for_messages(4));
  CHECK(primary.messages()[3] == R"({"event":"dtmf","digit":"5"})");
}

TEST_CASE("media payloads that are not canonical base64 are dropped and counted and the call goes on",
          "[media][bad-input]") {
  for (const auto* format : {"simple", "twilio"}) {
    INFO(format);
    BackendServer backend;
    auto serve = test::start_serve({"--backend-format", format});
    TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}});
    call.start();
    const auto sid = call.writer.identity().stream_sid;
    // Spliced unchecked, the first one used to reach backends as a second "event" key.
    const std::vector<std::string> hostile{
        R"(A\",\"event\":\"stop)", R"(QQ\n\u0001)", "=", "==", "", "AB==", "not base64!", "QQ= ", R"(\u00e9\u00e9QQ)"};
    for (const auto& payload : hostile) {
      call.ws.send_text(R"({"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1",)"
                        R"("timestamp":"0","payload":")" +
                        payload + R"("},"streamSid":")" + sid + R"("})");
    }
    // The same hostile payload in a shape only the full parser takes (an extra field).
    call.ws.send_text(R"({"event":"media","extra":[1],"media":{"payload":"A\",\"event\":\"stop"}})");
    call.media(7);
    REQUIRE(backend.wait_for_messages(2 + (std::string(format) == "twilio")));
    const auto last = backend.messages().back();
    CHECK(eventually([&] {
      return metric(serve.port, R"(callproxy_frames_dropped_total{reason="invalid_payload"})") ==
             static_cast<double>(hostile.size() + 1);
    }));
    CHECK(metric(serve.port, R"(callproxy_parse_errors_total{source="twilio"})") == 0);
    CHECK(metric(serve.port, "callproxy_frames_out_total") == 1);  // the one valid frame, nothing else
    const auto read = twilio::read_backend_message(last);
    REQUIRE(read.ok());
    const auto* media = std::get_if<twilio::MediaMessage>(&read.value().message);
    REQUIRE(media);
    CHECK(twilio::base64_decode(media->payload) == std::vector<std::uint8_t>(160, 7));  // the call goes on
  }
}

TEST_CASE("calls on different event loops are counted in their own shards and summed when scraped",
          "[media][metrics]") {
  BackendServer backend;
  auto serve = test::start_serve();  // two event loops
  // Connections go to the loops in turn: four calls are two on each.
  std::vector<std::unique_ptr<TwilioCall>> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(std::make_unique<TwilioCall>(
        serve.port, std::map<std::string, std::string>{{"backendHosts", backend_hosts({&backend})}}));
    calls.back()->start();
  }
  REQUIRE(backend.wait_for_connections(4));
  for (auto& call : calls) {
    for (std::size_t i = 0; i < 5; ++i) call->media(i);
  }
  for (std::size_t c = 0; c < 4; ++c) REQUIRE(backend.wait_for_messages(6, c));
  CHECK(metric(serve.port, "callproxy_active_calls") == 4);
  CHECK(metric(serve.port, "callproxy_frames_in_total") == 20);
  CHECK(eventually([&] { return metric(serve.port, "callproxy_frames_out_total") == 20; }));
  CHECK(metric(serve.port, R"(callproxy_backend_links{state="open"})") == 4);
  CHECK(metric(serve.port, "callproxy_forward_latency_seconds_count") == 20);
  calls.clear();
  CHECK(eventually([&] { return metric(serve.port, "callproxy_active_calls") == 0; }));
}

TEST_CASE("a frame over --max-frame-bytes is dropped but a whole recording in one message is not", "[media][limits]") {
  BackendServer backend;
  auto serve = test::start_serve({"--max-frame-bytes", "1000"});
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  call.start();
  call.ws.send_text(call.writer.media(std::vector<std::uint8_t>(1001, 0x55)));
  call.ws.send_text(call.writer.media(std::vector<std::uint8_t>(1000, 0x55)));
  REQUIRE(backend.wait_for_messages(2));
  CHECK(eventually(
      [&] { return metric(serve.port, R"(callproxy_frames_dropped_total{reason="frame_too_large"})") == 1; }));
  CHECK(twilio::base64_decode(json::parse(backend.messages()[1]).at("media").get<std::string>())->size() == 1000);

  // The default takes the Node service's test client, which sends its 24 KB recording at once.
  BackendServer node_backend;
  auto node_serve = test::start_serve();
  TwilioCall node_call(node_serve.port, {{"backendHosts", backend_hosts({&node_backend})}});
  node_call.start();
  // Once the backend is connected: 3 s of audio in one message is not a backend 3 s behind.
  REQUIRE(node_backend.wait_for_messages(1));
  node_call.ws.send_text(node_call.writer.media(std::vector<std::uint8_t>(24000, 0x55)));
  REQUIRE(node_backend.wait_for_messages(2));
  CHECK(twilio::base64_decode(json::parse(node_backend.messages()[1]).at("media").get<std::string>())->size() == 24000);
}

TEST_CASE("a start naming more than --max-backends-per-call backends is refused with 1008", "[media][limits]") {
  BackendServer backend;
  auto serve = test::start_serve({"--max-backends-per-call", "3"});
  std::vector<const BackendServer*> four(4, &backend);
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts(four)}});
  call.start();
  REQUIRE(call.ws.wait_closed());
  CHECK(call.ws.close_code() == 1008);
  CHECK(call.ws.close_reason() == "too many backends");
  CHECK(metric(serve.port, R"(callproxy_streams_refused_total{reason="too_many_backends"})") == 1);
  CHECK(backend.connections() == 0);  // not one socket opened for it

  std::vector<const BackendServer*> three(3, &backend);
  TwilioCall allowed(serve.port, {{"backendHosts", backend_hosts(three)}});
  allowed.start();
  CHECK(backend.wait_for_connections(3));
}

TEST_CASE("a stream that never sends start is closed with 1008 after --start-timeout", "[media][limits]") {
  auto serve = test::start_serve({"--start-timeout", "0.3"});
  TwilioCall silent(serve.port, {});
  silent.ws.send_text(silent.writer.connected());
  REQUIRE(silent.ws.wait_closed());
  CHECK(silent.ws.close_code() == 1008);
  CHECK(silent.ws.close_reason() == "no start message");
  CHECK(metric(serve.port, R"(callproxy_streams_refused_total{reason="no_start"})") == 1);
  CHECK(eventually([&] { return metric(serve.port, "callproxy_active_calls") == 0; }));

  // A call that starts in time is not cut off when the timeout would have passed.
  BackendServer backend;
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  call.start();
  REQUIRE(backend.wait_for_messages(1));
  const auto after = std::chrono::steady_clock::now() + 600ms;
  std::size_t i = 0;
  while (std::chrono::steady_clock::now() < after) {
    call.media(i++);
    std::this_thread::sleep_for(20ms);  // pacing a live call, not waiting for a result
  }
  CHECK(backend.wait_for_messages(1 + i));
  CHECK_FALSE(call.ws.wait_closed(0ms));
}

TEST_CASE("a silent stream that answers pings stays, one that does not is dropped", "[media][limits]") {
  auto serve = test::start_serve({"--stream-idle-timeout", "1"});
  BackendServer backend;

  // Silent but alive: pinged at each half period without a word, and the call goes on.
  TwilioCall quiet(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  quiet.start();
  REQUIRE(backend.wait_for_messages(1, 0));
  REQUIRE(eventually([&] { return quiet.ws.pings_received() >= 3; }));
  CHECK_FALSE(quiet.ws.wait_closed(0ms));
  CHECK_FALSE(backend.wait_closed(0, 0ms));
  quiet.media(1);
  CHECK(backend.wait_for_messages(2, 0));

  // Gone: a stream that neither sends nor reads (so never answers the ping) is dropped after the
  // idle timeout; its backend gets the stop and the call leaves the gauge.
  TwilioCall gone(serve.port, {{"backendHosts", backend_hosts({&backend})}}, {}, WsClient::Reading::off);
  gone.start();
  REQUIRE(backend.wait_for_messages(1, 1));
  REQUIRE(backend.wait_closed(1));
  const auto last = json::parse(backend.messages(1).back());
  CHECK(last["event"] == "stop");
  CHECK(eventually([&] { return metric(serve.port, "callproxy_active_calls") == 1; }));
  CHECK_FALSE(backend.wait_closed(0, 0ms));
}

TEST_CASE("replies on a fork stream are dropped and counted", "[media][stream-mode]") {
  SECTION("the flow says fork") {
    BackendServer backend;
    auto serve = test::start_serve();
    TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}, {"streamMode", "fork"}});
    call.start();
    REQUIRE(backend.wait_for_messages(1));
    backend.send_text(twilio::write_simple_media("AAAA"));
    CHECK(eventually([&] { return metric(serve.port, "callproxy_replies_on_fork_stream_total") == 1; }));
    CHECK_FALSE(call.ws.receive(200ms));
    CHECK(metric(serve.port, "callproxy_replies_relayed_total") == 0);
  }
  SECTION("--stream-mode fork, and a flow that says connect overrides it") {
    BackendServer backend;
    auto serve = test::start_serve({"--stream-mode", "fork"});
    TwilioCall fork(serve.port, {{"backendHosts", backend_hosts({&backend})}});
    fork.start();
    REQUIRE(backend.wait_for_messages(1, 0));
    backend.send_text(twilio::write_simple_media("AAAA"), 0);
    CHECK(eventually([&] { return metric(serve.port, "callproxy_replies_on_fork_stream_total") == 1; }));
    CHECK_FALSE(fork.ws.receive(200ms));

    TwilioCall connect(serve.port, {{"backendHosts", backend_hosts({&backend})}, {"streamMode", "connect"}});
    connect.start();
    REQUIRE(backend.wait_for_messages(1, 1));
    backend.send_text(twilio::write_simple_media("AAAA"), 1);
    const auto relayed = connect.ws.receive();
    REQUIRE(relayed);
    CHECK(json::parse(*relayed).at("media").at("payload") == "AAAA");
  }
}

TEST_CASE("replies that Twilio should not get are dropped and counted", "[media][bad-input]") {
  BackendServer backend;
  auto serve = test::start_serve({"--max-frame-bytes", "1000"});
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  call.start();
  REQUIRE(backend.wait_for_messages(1));
  const std::vector<std::string> bad{
      twilio::write_simple_media("not base64"),
      twilio::write_simple_media(""),
      twilio::write_simple_media("=="),
      twilio::write_simple_media(std::string(1336, 'A')),  // 1002 bytes
      twilio::write_simple_mark(std::string(60000, 'x')),
      twilio::write_simple_mark(""),
  };
  for (const auto& text : bad) backend.send_text(text);
  backend.send_text(twilio::write_simple_mark("done"));
  const auto relayed = call.ws.receive();
  REQUIRE(relayed);  // only the valid one, after all the others
  CHECK(json::parse(*relayed).at("mark").at("name") == "done");
  CHECK(metric(serve.port, "callproxy_replies_invalid_total") == bad.size());
  CHECK(metric(serve.port, "callproxy_replies_relayed_total") == 1);
}

TEST_CASE("with --replies none nothing goes back to the caller", "[media]") {
  BackendServer backend;
  auto serve = test::start_serve({"--replies", "none"});
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  call.start();
  REQUIRE(backend.wait_for_messages(1));
  backend.send_text(twilio::write_simple_media("AAAA"));
  CHECK_FALSE(call.ws.receive(300ms));
  CHECK(eventually([&] { return metric(serve.port, "callproxy_replies_ignored_total") == 1; }));
}

TEST_CASE("a backend killed mid-call does not disturb the others", "[media]") {
  BackendServer doomed, survivor;
  auto serve = test::start_serve({"--no-backend-reconnect"});
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&doomed, &survivor})}});
  call.start();
  for (int i = 0; i < 20; ++i) call.media(static_cast<std::size_t>(i));
  REQUIRE(doomed.wait_for_messages(21));
  doomed.kill();
  for (int i = 20; i < 100; ++i) call.media(static_cast<std::size_t>(i));
  call.stop();
  REQUIRE(survivor.wait_for_messages(102));
  const auto indexes = media_indexes(survivor.messages());
  REQUIRE(indexes.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(indexes[i] == i);
  CHECK_FALSE(call.ws.wait_closed(200ms));  // the caller was not hung up on
}

TEST_CASE("a dropped backend is reconnected and receives the live stream again", "[media]") {
  BackendServer flaky;
  auto serve = test::start_serve();
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&flaky})}});
  call.start();
  call.media(1);
  REQUIRE(flaky.wait_for_messages(2));
  flaky.kill(0);
  REQUIRE(flaky.wait_for_connections(2));
  REQUIRE(flaky.wait_for_messages(1, 1));
  CHECK(json::parse(flaky.messages(1)[0]).at("event") == "start");  // the start again, first
  call.media(2);
  REQUIRE(flaky.wait_for_messages(2, 1));
  CHECK(media_indexes(flaky.messages(1)) == std::vector<int>{2});
  CHECK(eventually([&] { return metric(serve.port, "callproxy_backend_reconnects_total") == 1; }));
}

TEST_CASE("when no backend is left the caller's stream is closed with a reason", "[media]") {
  BackendServer only;
  auto serve = test::start_serve({"--no-backend-reconnect"});
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&only})}});
  call.start();
  REQUIRE(only.wait_for_messages(1));
  only.kill();
  REQUIRE(call.ws.wait_closed());
  CHECK(call.ws.close_code() == 1013);
  CHECK(call.ws.close_reason() == "no backend left");

  // A backend that cannot be reached at all: same outcome, and it is counted.
  const unsigned short closed_port = [] {
    BackendServer gone;
    return gone.port();
  }();
  TwilioCall unreachable(serve.port, {{"backendHosts", R"(["127.0.0.1:)" + std::to_string(closed_port) + R"("])"}});
  unreachable.start();
  REQUIRE(unreachable.ws.wait_closed());
  CHECK(unreachable.ws.close_reason() == "no backend left");
  CHECK(metric(serve.port, "callproxy_backend_connect_failures_total") >= 1);
}

// After a backend that never reads was fed far past a limit: it alone was disconnected, the call
// and the healthy backend go on, and the proxy's memory stayed bounded (the queue holds at most a
// few MiB; the 32 MiB allows for allocator slack, ASan's quarantine alone being 16 MiB).
void expect_only_the_stalled_backend_cut_off(test::ServeProcess& serve, TwilioCall& call, long rss_before) {
  CHECK(eventually([&] { return metric(serve.port, "callproxy_backend_lag_disconnects_total") == 1; }));
  CHECK(metric(serve.port, "callproxy_backend_links{state=\"open\"}") == 1);  // only the healthy one
  const long rss_after = rss_kib(serve.process->pid());
  INFO("RSS before " << rss_before << " KiB, after " << rss_after << " KiB");
  CHECK(rss_after - rss_before < 32 * 1024);
  CHECK_FALSE(call.ws.wait_closed(100ms));
}

TEST_CASE("a stalled backend is cut off at the lag limit, the others and memory unaffected", "[media]") {
  BackendServer stalled(BackendServer::Mode::stall), healthy;
  auto serve = test::start_serve({"--max-backend-lag", "0.5"});
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&healthy, &stalled})}});
  call.start();
  REQUIRE(healthy.wait_for_messages(1));
  const long rss_before = rss_kib(serve.process->pid());
  // Far more than socket buffers hold: the proxy's queue for the stalled backend must hit 0.5 s.
  constexpr int frames = 20000;
  for (int i = 0; i < frames; ++i) {
    call.media(static_cast<std::size_t>(i));
    // Keep the healthy backend's backlog (40 KB) well inside socket buffers: only the stalled
    // backend's queue may grow in the proxy.
    if (i % 100 == 99) REQUIRE(healthy.wait_for_messages(static_cast<std::size_t>(i) + 2));
  }
  REQUIRE(healthy.wait_for_messages(frames + 1, 0, 30s));
  const auto indexes = media_indexes(healthy.messages());
  REQUIRE(indexes.size() == frames);
  for (int i = 0; i < frames; ++i) REQUIRE(indexes[i] == i % 256);
  expect_only_the_stalled_backend_cut_off(serve, call, rss_before);
}

TEST_CASE("a backend that never reads is cut off by --max-backend-queue-bytes, whatever the messages", "[media]") {
  // Events carry no audio, so only the byte bound can stop them piling up behind the backend.
  BackendServer stalled(BackendServer::Mode::stall), healthy;
  auto serve = test::start_serve({"--backend-format", "twilio", "--max-backend-queue-bytes", "1048576"});
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&healthy, &stalled})}});
  call.start();
  REQUIRE(healthy.wait_for_messages(2));  // connected and start
  const long rss_before = rss_kib(serve.process->pid());
  const std::string event = R"({"event":"custom","streamSid":"MZ1","pad":")" + std::string(30000, 'x') + R"("})";
  constexpr int events = 600;  // 18 MB: far more than the stalled backend's socket buffers
  for (int i = 0; i < events; ++i) {
    call.ws.send_text(event);
    if (i % 20 == 19) REQUIRE(healthy.wait_for_messages(static_cast<std::size_t>(i) + 3));
  }
  REQUIRE(healthy.wait_for_messages(events + 2, 0, 30s));
  expect_only_the_stalled_backend_cut_off(serve, call, rss_before);
  // 600 messages cannot reach the message bound (4096), and events carry no audio to lag: the
  // cut is the byte bound's, at 1 MiB exactly (a wrong bound under 18 MB would cut as well).
  const auto cut = test::queue_cut_of(serve.process->wait_for_stderr("messages queued, limit"));
  CHECK(cut.limit == 1048576);
  CHECK(cut.bytes <= 1048576);
  CHECK(cut.bytes + event.size() + 100 > 1048576);  // full: the next event did not fit
  CHECK(cut.messages < 40);
}

TEST_CASE("backends outside --backend-allow are refused and counted", "[media]") {
  BackendServer allowed, forbidden_backend;
  auto serve = test::start_serve({"--backend-allow", "127.0.0.1:" + std::to_string(allowed.port())});
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&forbidden_backend, &allowed})}});
  call.start();
  call.media(0);
  REQUIRE(allowed.wait_for_messages(2));
  CHECK(forbidden_backend.connections() == 0);
  CHECK(metric(serve.port, "callproxy_backends_refused_total{reason=\"not_allowed\"}") == 1);

  TwilioCall only_forbidden(serve.port, {{"backendHosts", backend_hosts({&forbidden_backend})}});
  only_forbidden.start();
  REQUIRE(only_forbidden.ws.wait_closed());
  CHECK(only_forbidden.ws.close_code() == 1008);
  CHECK(forbidden_backend.connections() == 0);
}

// A name passes --backend-allow's address patterns only through the addresses it resolves to: the
// check is made on the resolver's answer, and the connection is made to the addresses that passed
// it, from that same answer (net/client_connect.h), never after a second lookup.
TEST_CASE("a backend name is judged by the addresses it resolves to and only those are connected to",
          "[media][allowlist]") {
  BackendServer backend;  // on 127.0.0.1, where localhost resolves
  const auto port = std::to_string(backend.port());
  const std::string by_name = json::array({"localhost:" + port}).dump();
  {
    // Only other networks allowed: the name resolves to loopback, and nothing is connected to.
    auto serve = test::start_serve({"--backend-allow", "10.0.0.0/8:" + port, "--backend-allow", "[fd00::]/8:" + port});
    TwilioCall call(serve.port, {{"backendHosts", by_name}});
    call.start();
    REQUIRE(call.ws.wait_closed());
    CHECK(backend.connections() == 0);
    CHECK(metric(serve.port, "callproxy_backends_refused_total{reason=\"not_allowed\"}") == 1);
  }
  {
    // Loopback allowed by address: the same name is reached at the address it resolved to.
    auto serve = test::start_serve({"--backend-allow", "127.0.0.1:" + port});
    TwilioCall call(serve.port, {{"backendHosts", by_name}});
    call.start();
    call.media(0);
    REQUIRE(backend.wait_for_messages(2));  // start and the frame
    CHECK(backend.connections() == 1);
  }
}

TEST_CASE("the --backend flag serves calls whose start names no backend", "[media]") {
  BackendServer fallback;
  auto serve = test::start_serve({"--backend", "ws://" + fallback.host_port() + "/custom/path"});
  TwilioCall call(serve.port, {});
  call.start();
  call.media(3);
  REQUIRE(fallback.wait_for_messages(2));
  CHECK(media_indexes(fallback.messages()) == std::vector<int>{3});
}

TEST_CASE("handshakes: signed accepted, unsigned 400, wrongly signed 403", "[media][signature]") {
  BackendServer backend;
  const std::string& token = test::secrets::auth_token;
  auto serve = test::start_serve({"--validate-signatures"}, {{"TWILIO_AUTH_TOKEN", token}});
  const std::string host = "127.0.0.1:" + std::to_string(serve.port);
  const auto good = twilio::compute_signature(token, "wss://" + host + "/media", {});

  {
    TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}}, {{"X-Twilio-Signature", good}});
    call.start();
    REQUIRE(backend.wait_for_messages(1));
  }
  try {
    WsClient unsigned_client(serve.port, "/media");
    FAIL("an unsigned handshake was accepted");
  } catch (const test::HandshakeRefused& e) {
    CHECK(e.status == 400);
    CHECK(e.body.find("X-Twilio-Signature") != std::string::npos);
  }
  try {
    const auto wrong = twilio::compute_signature(test::secrets::other_auth_token, "wss://" + host + "/media", {});
    WsClient forged(serve.port, "/media", {{"X-Twilio-Signature", wrong}});
    FAIL("a wrongly signed handshake was accepted");
  } catch (const test::HandshakeRefused& e) {
    CHECK(e.status == 403);
  }
  CHECK(metric(serve.port, "callproxy_handshake_rejections_total{reason=\"missing_signature\"}") == 1);
  CHECK(metric(serve.port, "callproxy_handshake_rejections_total{reason=\"bad_signature\"}") == 1);
}

TEST_CASE("behind a proxy the handshake is checked against --public-url", "[media][signature]") {
  BackendServer backend;
  auto serve = test::start_serve({"--validate-signatures", "--public-url", "wss://calls.example.com/"},
                                 {{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}});
  const auto sig = twilio::compute_signature(test::secrets::auth_token, "wss://calls.example.com/media", {});
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}}, {{"X-Twilio-Signature", sig}});
  call.start();
  REQUIRE(backend.wait_for_messages(1));
}

TEST_CASE("validation without a token is refused at start-up", "[media][signature]") {
  const auto result = test::run_command(test::callproxy_args({"serve", "--port", "0", "--validate-signatures"}),
                                        {{"TWILIO_AUTH_TOKEN", std::nullopt}});
  CHECK(result.exit_code == 2);
  CHECK(result.err.find("auth token") != std::string::npos);
  const auto from_env = test::run_command(test::callproxy_args({"serve", "--port", "0"}),
                                          {{"TWILIO_AUTH_TOKEN", std::nullopt}, {"VALIDATE_EXTERNAL_CALLS", "true"}});
  CHECK(from_env.exit_code == 2);
}

TEST_CASE("bad input from Twilio's side is ignored or closes only that stream", "[media][bad-input]") {
  BackendServer backend;
  auto serve = test::start_serve({"--max-message-bytes", "4096"});
  TwilioCall bystander(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  bystander.start();
  REQUIRE(backend.wait_for_messages(1, 0));

  BackendServer victim_backend;
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&victim_backend})}});
  call.ws.send_text(call.writer.connected());
  call.media(0);                                           // media before start: ignored
  call.ws.send_text("{not json");                          // invalid JSON: ignored
  call.ws.send_text(R"({"event":"media","media":{}})");    // missing payload: ignored
  call.ws.send_text(R"({"no":"event"})");                  // no event: ignored
  call.ws.send_binary(std::string("\x00\x01\x02", 3));     // binary frame: ignored
  call.ws.send_text(R"({"event":"future-event","x":1})");  // unknown event: ignored
  call.ws.send_text(call.writer.start());
  call.media(1);
  REQUIRE(victim_backend.wait_for_messages(2));
  CHECK(media_indexes(victim_backend.messages()) == std::vector<int>{1});
  CHECK(metric(serve.port, "callproxy_parse_errors_total{source=\"twilio\"}") == 3);
  CHECK(metric(serve.port, "callproxy_binary_frames_ignored_total") == 1);
  CHECK(metric(serve.port, "callproxy_frames_dropped_total{reason=\"before_start\"}") == 1);

  // Oversized: that stream is closed with 1009, the bystander carries on.
  call.ws.send_text(std::string(8192, ' '));
  REQUIRE(call.ws.wait_closed());
  INFO(call.ws.close_reason());
  CHECK(call.ws.close_code() == 1009);
  CHECK(metric(serve.port, "callproxy_oversized_messages_total") == 1);
  bystander.media(42);
  REQUIRE(backend.wait_for_messages(2, 0));
  CHECK(media_indexes(backend.messages()) == std::vector<int>{42});

  // Garbage backendHosts: the stream is closed, nothing else.
  TwilioCall garbage(serve.port, {{"backendHosts", "not json"}});
  garbage.start();
  REQUIRE(garbage.ws.wait_closed());
  CHECK(garbage.ws.close_code() == 1008);
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
}

TEST_CASE("a start's long SIDs are cut in the call's log lines and repeated starts are logged once",
          "[media][bad-input][log]") {
  // The label (streamSid and callSid) is in every line of the call; a second start was logged
  // each time it came, outside the per-call limit.
  BackendServer backend;
  auto serve = test::start_serve();
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  auto start = json::parse(call.writer.start());
  const std::string stream_sid = "MZ" + std::string(5000, 'a');
  start["streamSid"] = stream_sid;
  start["start"]["streamSid"] = stream_sid;
  start["start"]["callSid"] = "CA" + std::string(5000, 'b');
  call.ws.send_text(call.writer.connected());
  const auto flood_began = std::chrono::steady_clock::now();
  for (int i = 0; i < 30; ++i) call.ws.send_text(start.dump());
  call.media(1);
  // The backend has the media that came after every start: serve has read them all, and wrote
  // their lines before this request's.
  REQUIRE(backend.wait_for_messages(2));
  // One line per 10 s at most: one, unless this machine took that long over 30 messages.
  const auto intervals = (std::chrono::steady_clock::now() - flood_began) / 10s;
  test::http_request(serve.port, "GET", "/after-the-starts");
  serve.process->wait_for_stderr("/after-the-starts");
  const auto log = serve.process->err();
  const auto repeats = test::count_of(log, "second 'start' ignored");
  CHECK(repeats >= 1);
  CHECK(repeats <= 1 + static_cast<std::size_t>(intervals));
  CHECK(log.find("MZ" + std::string(62, 'a') + "… (CA" + std::string(62, 'b') + "…)") != std::string::npos);
  CHECK(test::longest_line(log) < 1024);
}

// A peer chooses its SIDs: a newline in one wrote a log line of the peer's choosing, an ESC
// sequence recoloured the terminal of whoever read the log. Every text line escapes them.
TEST_CASE("control bytes in a start's SIDs are escaped in the text log: no forged lines, no terminal sequences",
          "[media][bad-input][log]") {
  BackendServer backend;
  auto serve = test::start_serve();
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  auto start = json::parse(call.writer.start());
  const std::string forged = "2030-01-01 00:00:00.000 error FORGED";
  const std::string stream_sid = "MZ1\n" + forged + "\x1b[31m\r\t\x7f\u0085";
  start["streamSid"] = stream_sid;
  start["start"]["streamSid"] = stream_sid;
  start["start"]["callSid"] = "CA1\x1b]0;title\x07";
  call.ws.send_text(call.writer.connected());
  call.ws.send_text(start.dump());
  serve.process->wait_for_stderr("started, 1 backend");
  const auto log = serve.process->err();
  INFO(log);
  CHECK(log.find("\n" + forged) == std::string::npos);  // no line of the peer's
  CHECK(log.find('\x1b') == std::string::npos);
  CHECK(log.find('\r') == std::string::npos);
  CHECK(log.find('\x7f') == std::string::npos);
  CHECK(log.find("\u0085") == std::string::npos);
  // What the peer sent is there for a reader to see, escaped.
  CHECK(log.find("call MZ1\\n" + forged + "\\e[31m\\r\\t\\x7F\\xC2\\x85 (CA1\\e]0;title\\x07): started") !=
        std::string::npos);
}

TEST_CASE("bad input from a backend is ignored and counted", "[media][bad-input]") {
  BackendServer backend;
  auto serve = test::start_serve();
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  call.start();
  REQUIRE(backend.wait_for_messages(1));
  backend.send_text("{oops");
  backend.send_text(R"({"event":"media","media":7})");
  backend.send_text(twilio::write_simple_clear());
  const auto clear = call.ws.receive();
  REQUIRE(clear);
  CHECK(json::parse(*clear).at("event") == "clear");
  CHECK(metric(serve.port, "callproxy_parse_errors_total{source=\"backend\"}") == 2);
}

TEST_CASE("GET /media without an upgrade is answered 426", "[media]") {
  auto serve = test::start_serve();
  CHECK(test::http_request(serve.port, "GET", "/media").status == 426);
}

TEST_CASE("executions are connected while their stream is open and gone after", "[media][executions]") {
  BackendServer backend;
  auto serve = test::start_serve();
  CHECK(test::http_request(serve.port, "GET", "/executions/FN42/connected").status == 410);
  {
    TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}, {"executionId", "FN42"}});
    call.start();
    REQUIRE(backend.wait_for_messages(1));
    CHECK(
        eventually([&] { return test::http_request(serve.port, "GET", "/executions/FN42/connected").status == 200; }));
    CHECK(test::http_request(serve.port, "GET", "/executions/FN43/connected").status == 410);
    call.stop();
    call.ws.close();
  }
  CHECK(eventually([&] { return test::http_request(serve.port, "GET", "/executions/FN42/connected").status == 410; }));
}

TEST_CASE("calls reset mid-stream leave no trace: gauge, registry, marks and backends", "[media][bad-input]") {
  BackendServer backend;
  auto serve = test::start_serve();
  std::vector<std::unique_ptr<TwilioCall>> calls;
  for (int i = 0; i < 5; ++i) {
    calls.push_back(std::make_unique<TwilioCall>(
        serve.port, std::map<std::string, std::string>{{"backendHosts", backend_hosts({&backend})},
                                                       {"executionId", "FNR" + std::to_string(i)}}));
    calls.back()->start();
    calls.back()->media(0);
  }
  REQUIRE(backend.wait_for_connections(5));
  for (std::size_t i = 0; i < 5; ++i) REQUIRE(backend.wait_for_messages(2, i));
  CHECK(metric(serve.port, "callproxy_active_calls") == 5);
  for (auto& call : calls) call->ws.reset();
  CHECK(eventually([&] { return metric(serve.port, "callproxy_active_calls") == 0; }));
  for (std::size_t i = 0; i < 5; ++i) {
    INFO("backend connection " << i);
    CHECK(backend.wait_closed(i));
    CHECK(json::parse(backend.messages(i).back())["event"] == "stop");
    CHECK(eventually([&] {
      return test::http_request(serve.port, "GET", "/executions/FNR" + std::to_string(i) + "/connected").status == 410;
    }));
  }
  // The server is whole: a new call goes through.
  TwilioCall after(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  after.start();
  after.media(7);
  CHECK(backend.wait_for_messages(2, 5));
}

TEST_CASE("SIGTERM drains: live calls finish, new ones are refused, exit 0", "[media][drain]") {
  BackendServer backend;
  auto serve = test::start_serve({"--drain-timeout", "10"});
  auto call = std::make_unique<TwilioCall>(
      serve.port, std::map<std::string, std::string>{{"backendHosts", backend_hosts({&backend})}});
  call->start();
  REQUIRE(backend.wait_for_messages(1));
  serve.process->signal(SIGTERM);
  REQUIRE(eventually([&] { return test::http_request(serve.port, "GET", "/readyz").status == 503; }));
  try {
    WsClient late(serve.port, "/media");
    FAIL("a new call was accepted while draining");
  } catch (const test::HandshakeRefused& e) {
    CHECK(e.status == 503);
  }
  call->media(5);  // the live call still streams
  REQUIRE(backend.wait_for_messages(2));
  call->stop();
  call->ws.close();
  CHECK(serve.process->wait(10s) == 0);
}

TEST_CASE("at the drain deadline live calls are closed with 1001", "[media][drain]") {
  BackendServer backend;
  auto serve = test::start_serve({"--drain-timeout", "0.3"});
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  call.start();
  REQUIRE(backend.wait_for_messages(1));
  serve.process->signal(SIGTERM);
  REQUIRE(call.ws.wait_closed());
  CHECK(call.ws.close_code() == 1001);
  CHECK(serve.process->wait(10s) == 0);
  CHECK(json::parse(backend.messages().back()).at("event") == "stop");  // the backend heard the end
}

TEST_CASE("/metrics speaks Prometheus text and its counters move", "[media][metrics]") {
  BackendServer backend;
  auto serve = test::start_serve();
  const auto page = test::http_request(serve.port, "GET", "/metrics");
  CHECK(page.status == 200);
  CHECK(page.headers.at("content-type").find("text/plain; version=0.0.4") == 0);
  CHECK(page.body.find("# TYPE callproxy_forward_latency_seconds histogram") != std::string::npos);
  CHECK(metric(serve.port, "callproxy_active_calls") == 0);
  TwilioCall call(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  call.start();
  for (int i = 0; i < 10; ++i) call.media(static_cast<std::size_t>(i));
  REQUIRE(backend.wait_for_messages(11));
  CHECK(metric(serve.port, "callproxy_active_calls") == 1);
  CHECK(metric(serve.port, "callproxy_backend_links{state=\"open\"}") == 1);
  CHECK(metric(serve.port, "callproxy_frames_in_total") == 10);
  CHECK(eventually([&] { return metric(serve.port, "callproxy_forward_latency_seconds_count") == 10; }));
  CHECK(metric(serve.port, "callproxy_bytes_in_total") > 10 * 160);
}

TEST_CASE("each event loop's lag is measured: a loop kept from its events shows in callproxy_loop_lag_seconds",
          "[media][metrics]") {
  auto serve = test::start_serve();  // one loop
  const auto page = test::http_request(serve.port, "GET", "/metrics");
  CHECK(page.body.find("# TYPE callproxy_loop_lag_seconds histogram") != std::string::npos);
  // The probe runs (10 a second).
  CHECK(eventually([&] { return metric(serve.port, "callproxy_loop_lag_seconds_count") >= 10; }));
  const auto late = [&] {
    return metric(serve.port, "callproxy_loop_lag_seconds_bucket{le=\"+Inf\"}") -
           metric(serve.port, "callproxy_loop_lag_seconds_bucket{le=\"0.25\"}");
  };
  const auto before = late();
  // The whole process stopped for 0.6 s: the probe due in that time runs > 0.25 s late.
  serve.process->signal(SIGSTOP);
  std::this_thread::sleep_for(600ms);  // the stimulus, not a wait for a result
  serve.process->signal(SIGCONT);
  CHECK(eventually([&] { return late() >= before + 1; }));
}

TEST_CASE("wss:// backends are verified: trusted through --backend-ca, refused otherwise", "[media][tls]") {
  const auto dir = test::make_test_certificate("backend");

  test::TlsBackendServer secure(dir + "/cert.pem", dir + "/key.pem");
  const std::string url = "wss://localhost:" + std::to_string(secure.port()) + "/media";
  {
    auto serve = test::start_serve({"--backend-ca", dir + "/cert.pem"});
    TwilioCall call(serve.port, {{"backendHosts", json::array({url}).dump()}});
    call.start();
    call.media(9);
    REQUIRE(secure.wait_for_messages(2));
    CHECK(media_indexes(secure.messages()) == std::vector<int>{9});
  }
  {
    // Without the CA the certificate is not trusted: no connection, the call is closed.
    test::TlsBackendServer untrusted(dir + "/cert.pem", dir + "/key.pem");
    auto serve = test::start_serve();
    TwilioCall call(
        serve.port,
        {{"backendHosts", json::array({"wss://localhost:" + std::to_string(untrusted.port()) + "/media"}).dump()}});
    call.start();
    REQUIRE(call.ws.wait_closed());
    CHECK(call.ws.close_reason() == "no backend left");
    CHECK(untrusted.messages().empty());
    // The log line follows the close: wait for it rather than race the reader.
    CHECK_NOTHROW(serve.process->wait_for_stderr("TLS handshake failed", std::chrono::seconds(10)));
  }
  test::run_command({"/bin/rm", "-rf", dir});
}

TEST_CASE("serve speaks wss:// and https:// itself with --tls-cert and --tls-key", "[media][tls]") {
  const auto dir = test::make_test_certificate("serve");
  BackendServer backend;
  auto serve = test::start_serve(
      {"--tls-cert", dir + "/cert.pem", "--tls-key", dir + "/key.pem", "--max-backend-lag", "60"});
  CHECK(serve.process->err().find(", TLS)") != std::string::npos);
  // client-test trusts the certificate through OpenSSL's SSL_CERT_FILE.
  const auto call = test::run_command(
      test::callproxy_args({"client-test", "--once", "--no-pace", "--url",
                            "wss://localhost:" + std::to_string(serve.port) + "/media", "--backend-hosts",
                            json::array({backend.host_port()}).dump()}),
      {{"SSL_CERT_FILE", dir + "/cert.pem"}});
  INFO(call.out << call.err);
  CHECK(call.exit_code == 0);
  REQUIRE(backend.wait_for_messages(10));
  CHECK(json::parse(backend.messages()[0]).at("event") == "start");
  // Plain HTTP on the TLS port gets no HTTP answer; without trust the client refuses the server.
  CHECK(test::raw_exchange(serve.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 200", 0) != 0);
  const auto untrusted = test::run_command(
      test::callproxy_args(
          {"client-test", "--once", "--url", "wss://localhost:" + std::to_string(serve.port) + "/media"}),
      {{"SSL_CERT_FILE", "/nonexistent"}, {"SSL_CERT_DIR", "/nonexistent"}});
  CHECK(untrusted.exit_code == 1);
  CHECK(untrusted.err.find("TLS handshake failed") != std::string::npos);
  const auto bad = test::run_command(
      test::callproxy_args({"serve", "--port", "0", "--store", "memory", "--tls-cert", dir + "/cert.pem"}));
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--tls-cert and --tls-key go together") != std::string::npos);
  test::run_command({"/bin/rm", "-rf", dir});
}

TEST_CASE("past --max-calls a new stream is refused 503 before the upgrade and the live calls go on",
          "[media][limits]") {
  BackendServer backend;
  auto serve = test::start_serve({"--max-calls", "2"});
  TwilioCall first(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  TwilioCall second(serve.port, {{"backendHosts", backend_hosts({&backend})}});
  first.start();
  second.start();
  REQUIRE(backend.wait_for_connections(2));
  for (std::size_t i = 0; i < 10; ++i) {
    first.media(i);
    second.media(i);
  }
  // A burst of streams past the limit, all at once.
  std::atomic<int> refused{0}, otherwise{0};
  std::vector<std::thread> burst;
  for (int i = 0; i < 12; ++i) {
    burst.emplace_back([&] {
      try {
        WsClient extra(serve.port, "/media");
        ++otherwise;
      } catch (const test::HandshakeRefused& e) {
        ++(e.status == 503 && e.body.find("call limit (2 calls)") != std::string::npos ? refused : otherwise);
      } catch (const std::exception&) {
        ++otherwise;
      }
    });
  }
  for (auto& t : burst) t.join();
  CHECK(refused == 12);
  CHECK(otherwise == 0);
  for (std::size_t i = 10; i < 20; ++i) {
    first.media(i);
    second.media(i);
  }
  first.stop();
  second.stop();
  std::vector<int> expected(20);
  std::iota(expected.begin(), expected.end(), 0);
  for (std::size_t link = 0; link < 2; ++link) {
    INFO("backend connection " << link);
    REQUIRE(backend.wait_for_messages(22, link));  // start, 20 frames, stop
    CHECK(media_indexes(backend.messages(link)) == expected);
  }
  CHECK(metric(serve.port, "callproxy_handshake_rejections_total{reason=\"call_limit\"}") == 12);
  // The ended calls' places are free again.
  first.ws.close();
  second.ws.close();
  CHECK(eventually([&] {
    try {
      WsClient next(serve.port, "/media");
      return true;
    } catch (const test::HandshakeRefused&) {
      return false;
    }
  }));
}
