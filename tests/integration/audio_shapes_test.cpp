// Audio shapes through the real binary (docs/serve.md, "Audio shapes"): the sample call streamed
// as Twilio streams it, each backend of the call asking for its own shape, and what each gets
// compared with a reference conversion; a primary answering in its own shape, heard by the caller
// as mu-law that matches its reference; entries that name a shape badly, refused and counted.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <string>
#include <vector>

#include "audio/audio_shape.h"
#include "support/audio_compare.h"
#include "support/child_process.h"
#include "support/local_speaker.h"
#include "support/media_call.h"
#include "support/redis_server.h"
#include "support/test_secrets.h"
#include "support/wait.h"
#include "support/ws_peer.h"
#include "test_data.h"
#include "twilio/audio_file.h"
#include "twilio/backend_protocol.h"
#include "twilio/base64.h"
#include "twilio/stream_token.h"

using namespace callproxy;
using namespace std::chrono_literals;
using nlohmann::json;
using test::BackendServer;
using test::metric;
using test::TwilioCall;

namespace {

std::string entry(const BackendServer& backend, const std::string& options = "") {
  return "ws://" + backend.host_port() + "/media" + (options.empty() ? "" : "#" + options);
}

// The audio bytes a backend received: JSON media payloads decoded, or binary messages as they came.
std::vector<std::uint8_t> received_audio(const BackendServer& backend) {
  std::vector<std::uint8_t> out;
  const auto messages = backend.messages();
  const auto binary = backend.binary_messages();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (binary[i]) {
      out.insert(out.end(), messages[i].begin(), messages[i].end());
      continue;
    }
    const auto message = json::parse(messages[i]);
    if (message.at("event") != "media") continue;
    const auto bytes = twilio::base64_decode(message.at("media").get<std::string>());
    REQUIRE(bytes);
    out.insert(out.end(), bytes->begin(), bytes->end());
  }
  return out;
}

std::vector<std::int16_t> samples_of(const std::vector<std::uint8_t>& le) { return test::from_le_bytes(le); }

}  // namespace

TEST_CASE("each backend of a call gets the caller's audio in its own shape, matching a reference conversion",
          "[media][shapes]") {
  BackendServer plain, wide_json, widest_binary, wide_binary, mulaw_binary;
  // The whole call goes in at once (faster than Twilio ever sends): no backend counts as behind.
  auto serve = test::start_serve({"--max-backend-lag", "60s"});
  const json hosts{entry(plain), entry(wide_json, "audio=pcm16@16000"),
                   entry(widest_binary, "audio=pcm16@24000&frames=binary"),
                   entry(wide_binary, "frames=binary&audio=pcm16@16000"), entry(mulaw_binary, "frames=binary")};
  TwilioCall call(serve.port, {{"backendHosts", hosts.dump()}});
  call.start();
  const std::vector<BackendServer*> all{&plain, &wide_json, &widest_binary, &wide_binary, &mulaw_binary};
  for (auto* backend : all) REQUIRE(backend->wait_for_messages(1));

  const auto audio = test::sample_call_mulaw();
  const auto frames = audio.size() / 160;
  std::vector<std::string> payloads;
  for (std::size_t i = 0; i < frames; ++i) {
    const std::vector<std::uint8_t> frame(audio.begin() + static_cast<std::ptrdiff_t>(i * 160),
                                          audio.begin() + static_cast<std::ptrdiff_t>((i + 1) * 160));
    payloads.push_back(twilio::base64_encode(frame));
    call.ws.send_text(call.writer.media(frame));
  }
  call.stop();
  for (auto* backend : all) {
    const bool complete = backend->wait_for_messages(frames + 2);  // start, the frames, stop
    INFO(serve.process->err());
    REQUIRE(complete);
  }

  // Each start says what its backend gets.
  const auto format_of = [](const BackendServer& b) { return json::parse(b.messages().front()).at("mediaFormat"); };
  CHECK(format_of(plain) == json{{"encoding", "audio/x-mulaw"}, {"sampleRate", 8000}, {"channels", 1}});
  CHECK(format_of(wide_json) == json{{"encoding", "audio/x-l16"}, {"sampleRate", 16000}, {"channels", 1}});
  CHECK(format_of(widest_binary) == json{{"encoding", "audio/x-l16"}, {"sampleRate", 24000}, {"channels", 1}});
  CHECK(format_of(mulaw_binary) == json{{"encoding", "audio/x-mulaw"}, {"sampleRate", 8000}, {"channels", 1}});

  // Twilio's own shape is what it always was, byte for byte.
  for (std::size_t i = 0; i < frames; ++i) {
    REQUIRE(plain.messages()[i + 1] == R"({"event":"media","media":")" + payloads[i] + R"("})");
  }
  // mu-law in binary frames: Twilio's bytes, a binary message per frame.
  CHECK(received_audio(mulaw_binary) == audio);
  const auto binary_flags = widest_binary.binary_messages();
  CHECK(std::count(binary_flags.begin(), binary_flags.end(), true) == static_cast<std::ptrdiff_t>(frames));
  CHECK(widest_binary.messages()[frames].size() == 960);  // 20 ms at 24 kHz, 16 bits

  // pcm16: the sample call converted, against the reference conversion of the same mu-law.
  for (const auto& [backend, rate] : {std::pair{&wide_json, 16000}, std::pair{&widest_binary, 24000}}) {
    INFO("pcm16@" << rate);
    const auto got = samples_of(received_audio(*backend));
    const auto reference = test::mulaw_reference(audio, rate);
    CHECK(got.size() + static_cast<std::size_t>(rate / 250) >=
          reference.size());  // less what the filter holds back (2 ms)
    CHECK(got.size() <= reference.size());
    CHECK(test::best_lag(got, reference, rate) == 0);
    // Over the telephone band: speech has energy up to 4 kHz, where the two converters' filters
    // roll off differently, and no phone carries it.
    // Measured: 85 dB at 16 and 24 kHz (audio/upsampler.h; speexdsp's quality 3 gave 52).
    INFO("SNR over the whole band " << test::snr_db(got, reference, rate));
    CHECK(test::band_snr_db(got, reference, rate) > 70.0);
  }
  // One conversion per call for the same audio, whatever its framing.
  CHECK(received_audio(wide_binary) == received_audio(wide_json));
  CHECK(metric(serve.port, "callproxy_frames_in_total") == static_cast<double>(frames));
}

TEST_CASE("a primary answering in its own shape is heard by the caller as mu-law matching a reference",
          "[media][shapes]") {
  for (const std::string options : {"audio=pcm16@24000", "audio=pcm16@16000&frames=binary", "audio=pcm16@8000"}) {
    INFO(options);
    BackendServer primary;
    auto serve = test::start_serve();
    TwilioCall call(serve.port, {{"backendHosts", json{entry(primary, options)}.dump()}});
    call.start();
    REQUIRE(primary.wait_for_messages(1));
    const auto shape = audio::parse_audio_options(options).value();

    // The bot's speech in its shape, with a 6 kHz tone on top where its rate can carry one: the
    // caller must hear the speech and nothing of the tone (no alias).
    const double seconds = 2.0;
    const auto bytes = test::le_bytes(test::to_pcm(test::sweep(shape.rate, seconds, shape.rate > 12000 ? 6000 : 0)));
    const auto step = shape.frame_bytes();
    for (std::size_t at = 0; at < bytes.size(); at += step) {
      const std::string chunk(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                              bytes.begin() + static_cast<std::ptrdiff_t>(std::min(bytes.size(), at + step)));
      if (shape.frames == audio::Framing::binary) {
        primary.send_binary(chunk);
      } else {
        primary.send_text(twilio::write_simple_media(twilio::base64_encode(chunk)));
      }
    }
    std::vector<std::uint8_t> heard;
    const auto expected = static_cast<std::size_t>(8000 * seconds);
    while (heard.size() + 64 < expected) {
      const auto reply = call.ws.receive();
      INFO(serve.process->err());
      REQUIRE(reply);
      const auto message = json::parse(*reply);
      REQUIRE(message.at("event") == "media");
      CHECK(message.at("streamSid") == call.writer.identity().stream_sid);
      const auto codes = twilio::base64_decode(message.at("media").at("payload").get<std::string>());
      REQUIRE(codes);
      heard.insert(heard.end(), codes->begin(), codes->end());
    }
    const auto got = test::mulaw_to_pcm(heard);
    const auto reference = test::sweep(8000, seconds);
    CHECK(test::best_lag(got, reference, 8000) == 0);
    // mu-law's own noise is ~38 dB; the tone's alias would pull this near 12 dB.
    CHECK(test::snr_db(got, reference, 8000) > 33.0);
  }
}

TEST_CASE("both sides of a call, aligned on its clock: client-test as Twilio, local-speaker --echo as the primary",
          "[media][shapes][tracks]") {
  auto serve = test::start_serve();
  auto speaker = test::start_speaker({"--output", "null", "--echo"});
  BackendServer stereo, both;
  const json hosts{"ws://" + speaker.host_port() + "/media",
                   entry(stereo, "audio=pcm16@8000&tracks=stereo&frames=binary"), entry(both, "tracks=both")};
  const auto call = test::run_command(
      test::callproxy_args({"client-test", "--url", "ws://127.0.0.1:" + std::to_string(serve.port) + "/media", "--once",
                            "--json", "--backend-hosts", hosts.dump()}));
  INFO(call.out << call.err << serve.process->err());
  REQUIRE(call.exit_code == 0);
  REQUIRE(stereo.wait_closed());
  REQUIRE(both.wait_closed());
  test::stop(speaker);

  const auto caller = test::sample_call_mulaw();  // whole frames; client-test pads its last one with silence
  const auto frames = json::parse(call.out).at("framesSent").get<std::size_t>();
  REQUIRE(frames >= caller.size() / 160);
  // stereo: as long as the call, the caller left (exactly what was sent) ...
  std::string interleaved;
  const auto flags = stereo.binary_messages();
  const auto messages = stereo.messages();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (flags[i]) interleaved += messages[i];
  }
  REQUIRE(interleaved.size() == frames * 160 * 4);
  const auto samples = test::from_le_bytes(test::bytes_of(interleaved));
  const auto sent = test::mulaw_to_pcm(caller);
  std::vector<std::int16_t> left(frames * 160), right(frames * 160);
  for (std::size_t i = 0; i < left.size(); ++i) left[i] = samples[2 * i], right[i] = samples[2 * i + 1];
  CHECK(std::equal(sent.begin(), sent.end(), left.begin()));
  // ... and the primary right: its echo of the caller, placed when the caller hears it. Each of
  // its 20 ms is silence or exactly a frame of the caller's from d frames before (d >= 1: an echo
  // is heard after what it echoes), d never shrinking (a late echo delays what follows, as on
  // Twilio's side), sample for sample: aligned on the frame, not a sample off.
  std::size_t matched = 0, last_delay = 1;
  const auto silent = [](const std::int16_t* x) {
    return std::all_of(x, x + 160, [](std::int16_t v) { return v == 0; });
  };
  for (std::size_t f = 0; f < frames; ++f) {
    const auto* r = &right[f * 160];
    if (f >= last_delay && std::equal(r, r + 160, &left[(f - last_delay) * 160])) {
      ++matched;  // silence included: the caller's pauses echo as silence
      continue;
    }
    if (silent(r)) continue;  // nothing heard (yet): the echo is on its way
    std::size_t delay = last_delay + 1;
    while (delay <= f && !std::equal(r, r + 160, &left[(f - delay) * 160])) ++delay;
    INFO("frame " << f << ": no caller frame from " << last_delay << " frames before or earlier matches");
    REQUIRE(delay <= f);
    last_delay = delay;
    ++matched;
  }
  CHECK(last_delay <= 10);                     // the echo round trip: a few frames on loopback
  CHECK(matched + last_delay + 15 >= frames);  // all but a few frames hold the echo they should

  // both: the caller's frame then the primary's, labelled, for every frame of the call.
  std::size_t inbound = 0, outbound = 0;
  std::string expected = "inbound";
  for (const auto& text : both.messages()) {
    const auto message = json::parse(text);
    if (message.at("event") != "media") continue;
    CHECK(message.at("track") == expected);
    (expected == "inbound" ? inbound : outbound) += 1;
    expected = expected == "inbound" ? "outbound" : "inbound";
  }
  CHECK(inbound == frames);
  CHECK(outbound == frames);
}

TEST_CASE("local-speaker plays a pcm16 stream in binary frames and its echo reaches client-test as mu-law that "
          "matches the sample",
          "[media][shapes][speaker]") {
  auto serve = test::start_serve();
  const auto played = test::temp_path("played.wav"), replies = test::temp_path("replies.wav");
  auto speaker = test::start_speaker({"--output", "wav", "--wav-out", played, "--echo"});
  const auto hosts = json::array({"ws://" + speaker.host_port() + "/media#audio=pcm16@24000&frames=binary"});
  const auto call = test::run_command(
      test::callproxy_args({"client-test", "--url", "ws://127.0.0.1:" + std::to_string(serve.port) + "/media", "--once",
                            "--json", "--save-replies", replies, "--backend-hosts", hosts.dump()}));
  INFO(call.out << call.err << serve.process->err());
  REQUIRE(call.exit_code == 0);
  speaker.process->wait_for_stderr("ended: received");
  test::stop(speaker);
  // It says what it got.
  CHECK_THAT(speaker.process->err(), Catch::Contains("started: 16-bit PCM at 24000 Hz, 1 channel"));
  CHECK_THAT(speaker.process->err(), Catch::Contains("audio in binary frames"));

  const auto sent = test::mulaw_to_pcm(test::sample_call_mulaw());
  const auto reference = test::mulaw_reference(test::sample_call_mulaw(), 8000);
  // What it played: the call, 24 kHz and back to 8 kHz, after its jitter buffer's silence.
  auto read_samples = [](const std::string& path) {
    auto audio = twilio::read_call_audio(path);
    REQUIRE(audio.ok());
    return test::mulaw_to_pcm(audio.value());
  };
  auto heard = read_samples(played);
  const auto offset = test::find_offset(heard, sent, 8000);
  heard.erase(heard.begin(), heard.begin() + static_cast<std::ptrdiff_t>(offset));
  CHECK(test::best_lag(heard, reference, 8000) == 0);
  CHECK(test::band_snr_db(heard, reference, 8000) > 30.0);
  // The echo, in pcm16@24000 binary frames, converted by serve to the caller's 8 kHz mu-law.
  const auto echoed = read_samples(replies);
  CHECK(echoed.size() + 1600 >= sent.size());  // all but the last frames, in flight at hang-up
  CHECK(test::best_lag(echoed, reference, 8000) == 0);
  CHECK(test::band_snr_db(echoed, reference, 8000) > 30.0);
}

TEST_CASE("media during the stream token's claim reaches backends that all want another shape", "[media][shapes]") {
  // The claim goes to Redis, paused: every frame below arrives while it is pending and is held.
  test::RedisServer redis;
  BackendServer wide;
  auto serve = test::start_serve({"--stream-token-secret", test::secrets::stream_token_secret, "--store", redis.url()});
  const std::string call_sid = "CA" + std::string(32, 'a'), stream_sid = "MZ" + std::string(32, 'b');
  const auto hosts = json::array({entry(wide, "audio=pcm16@16000")}).dump();
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch());
  const auto token = twilio::mint_stream_token(test::secrets::stream_token_secret, call_sid, hosts, now.count() + 60);
  test::secrets::remember(token);
  test::WsClient ws(serve.port);
  const json start{{"event", "start"},
                   {"sequenceNumber", "1"},
                   {"streamSid", stream_sid},
                   {"start",
                    {{"accountSid", "AC" + std::string(32, 'c')},
                     {"streamSid", stream_sid},
                     {"callSid", call_sid},
                     {"tracks", {"inbound"}},
                     {"customParameters", {{"backendHosts", hosts}, {"streamToken", token}}},
                     {"mediaFormat", {{"encoding", "audio/x-mulaw"}, {"sampleRate", 8000}, {"channels", 1}}}}}};
  redis.pause();
  ws.send_text(start.dump());
  const auto payload = twilio::base64_encode(std::string(160, '\x42'));
  for (int i = 0; i < 20; ++i) {
    ws.send_text(R"({"event":"media","sequenceNumber":")" + std::to_string(i + 2) +
                 R"(","media":{"track":"inbound","chunk":")" + std::to_string(i + 1) + R"(","timestamp":")" +
                 std::to_string(20 * i) + R"(","payload":")" + payload + R"("},"streamSid":")" + stream_sid + R"("})");
  }
  INFO(serve.process->err());
  const bool all_read = test::eventually([&] { return metric(serve.port, "callproxy_frames_in_total") == 20; });
  redis.resume();
  REQUIRE(all_read);
  REQUIRE(wide.wait_for_messages(21));  // the start, then every frame held meanwhile
  CHECK(json::parse(wide.messages()[0]).at("mediaFormat").at("sampleRate") == 16000);
  CHECK(::kill(serve.process->pid(), 0) == 0);
}

TEST_CASE("JSON in a binary frame from a binary-frames primary is read as JSON, not played", "[media][shapes]") {
  BackendServer primary;
  auto serve = test::start_serve();
  TwilioCall call(serve.port,
                  {{"backendHosts", json::array({entry(primary, "audio=pcm16@16000&frames=binary")}).dump()}});
  call.start();
  REQUIRE(primary.wait_for_messages(1));
  primary.send_binary(R"({"event":"clear"})");
  const auto reply = call.ws.receive();
  REQUIRE(reply);
  CHECK(json::parse(*reply).at("event") == "clear");
}

TEST_CASE("an entry naming an unknown or malformed shape is refused, counted and logged, and the call goes on",
          "[media][shapes][bad-input]") {
  BackendServer good, never;
  auto serve = test::start_serve();
  const json hosts{entry(never, "audio=opus@48000"), entry(good, "audio=pcm16@16000")};
  TwilioCall call(serve.port, {{"backendHosts", hosts.dump()}});
  call.start();
  call.media(0);
  REQUIRE(good.wait_for_messages(2));
  CHECK_NOTHROW(serve.process->wait_for_stderr("audio='opus@48000': expected mulaw@8000, pcm16@8000", 10s));
  CHECK(metric(serve.port, "callproxy_backends_refused_total{reason=\"invalid\"}") == 1);
  CHECK(never.connections() == 0);

  // A pcm16 primary's reply that is not base64, or over the limit, is dropped and counted.
  const auto invalid_before = metric(serve.port, "callproxy_replies_invalid_total");
  good.send_text(R"({"event":"media","media":"not base64!"})");
  good.send_text(twilio::write_simple_media(twilio::base64_encode(std::string(3, '\x01'))));  // 1.5 samples
  good.send_text(twilio::write_simple_media(twilio::base64_encode(std::string(640, '\x00'))));
  const auto reply = call.ws.receive();
  REQUIRE(reply);  // the good one (the odd byte of the one before joins its first sample)
  CHECK(json::parse(*reply).at("event") == "media");
  CHECK(metric(serve.port, "callproxy_replies_invalid_total") == invalid_before + 1);
}

TEST_CASE("a --backend naming a shape badly stops serve at start, naming the entry", "[media][shapes][bad-input]") {
  const auto result = test::run_command(
      test::callproxy_args({"serve", "--port", "0", "--backend", "127.0.0.1:9#frames=raw"}));
  CHECK(result.exit_code != 0);
  CHECK_THAT(result.err, Catch::Contains("127.0.0.1:9#frames=raw"));
  CHECK_THAT(result.err, Catch::Contains("frames='raw': expected json or binary"));
}
