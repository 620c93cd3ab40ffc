// serve's Backends and Streams settings (proxy/media's MediaOptions).
#include "cli/duration.h"
#include "cli/serve_flags.h"
#include "proxy/media/backend_target.h"

namespace callproxy::cli {

std::string check_backend_entry(const std::string& entry) {
  auto parsed = proxy::parse_backend(entry);
  return parsed ? std::string() : parsed.error();
}

void add_backend_flags(CLI::App& app, proxy::MediaOptions& media, std::vector<std::string>& allow) {
  app.option_defaults()->group(group::backends);
  app.add_option(
         "--backend", media.default_backends,
         "Backend for calls whose start names none: host:port, a ws:// / wss:// URL or unix:/PATH[:/target], then "
         "#audio=pcm16@16000&frames=binary&tracks=stereo for another audio shape; record: (record:stereo, "
         "record:mix) writes the call under --record-dir (repeatable; comma-separated in the variable)")
      ->envname("CALLPROXY_BACKEND")
      ->delimiter(',')
      ->check(check_backend_entry);
  app.add_option("--backend-allow", allow,
                 "Only allow backends matching HOST:PORT: 10.0.0.0/8:8900, *.internal:*, bot.example.com:443, "
                 "[fd00::]/8:*; unix:/FOLDER for Unix sockets below it, which a call may name only so "
                 "(repeatable; comma-separated in the variable)")
      ->envname("CALLPROXY_BACKEND_ALLOW")
      ->delimiter(',')
      ->check([](const std::string& pattern) {
        try {
          proxy::BackendAllowlist probe;
          probe.add(pattern);
          return std::string();
        } catch (const std::invalid_argument& e) {
          return std::string(e.what());
        }
      });
  add_choice(app, "--backend-format", media.backend_format,
             {{"simple", proxy::BackendFormat::simple}, {"twilio", proxy::BackendFormat::twilio}},
             "What backends receive: simple (callproxy's small JSON) or twilio (Twilio's messages, passed through)")
      ->envname("CALLPROXY_BACKEND_FORMAT");
  add_choice(app, "--replies", media.replies,
             {{"first", proxy::ReplyPolicy::first}, {"none", proxy::ReplyPolicy::none}},
             "Relay the primary (first) backend's audio to the caller, or none")
      ->envname("CALLPROXY_REPLIES");
  add_choice(app, "--stream-mode", media.stream_mode,
             {{"connect", proxy::StreamMode::connect}, {"fork", proxy::StreamMode::fork}},
             "Streams whose start does not say (customParameters.streamMode): connect (<Connect><Stream>, "
             "replies go to the caller) or fork (<Start><Stream>, one-way: replies are dropped and counted)")
      ->envname("CALLPROXY_STREAM_MODE");
  add_switch(app, "--backend-reconnect,!--no-backend-reconnect", media.backend_reconnect, "CALLPROXY_BACKEND_RECONNECT",
             "Reconnect a dropped backend with backoff (the variable: true or false)");
  add_duration(app, "--backend-reconnect-window", media.backend_reconnect_window,
               "How long to keep trying to reconnect a dropped backend", {0, 86400})
      ->envname("CALLPROXY_BACKEND_RECONNECT_WINDOW");
  add_duration(app, "--backend-connect-timeout", media.backend_connect_timeout,
               "How long connecting to a backend may take, WebSocket handshake included", {0, 600})
      ->envname("CALLPROXY_BACKEND_CONNECT_TIMEOUT");
  app.add_option("--max-backends-per-call", media.max_backends_per_call,
                 "Backends one call may name; a start naming more is refused (close 1008)")
      ->envname("CALLPROXY_MAX_BACKENDS_PER_CALL")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000}))
      ->capture_default_str();
  app.add_option("--backend-ca", media.backend_ca, "Extra CA certificate file for wss:// backends (PEM)")
      ->envname("CALLPROXY_BACKEND_CA")
      ->check(CLI::ExistingFile);
  app.add_option("--record-dir", media.record_dir,
                 "Folder record: backends write WAV files and their JSON sidecars in (made 0700 if missing); "
                 "unset: record: is refused")
      ->envname("CALLPROXY_RECORD_DIR");
  add_duration(app, "--max-backend-lag", media.max_backend_lag,
               "Audio a backend may fall behind before it is disconnected", {0, 600})
      ->envname("CALLPROXY_MAX_BACKEND_LAG");
  app.add_option("--max-backend-queue-bytes", media.max_backend_queue_bytes,
                 "Bytes of messages of any kind (media, dtmf, marks, unknown events) that may wait behind a "
                 "backend before it is disconnected")
      ->envname("CALLPROXY_MAX_BACKEND_QUEUE_BYTES")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))
      ->capture_default_str();
  // Replies from a call's primary backend waiting to go to Twilio: past either bound a reply is
  // dropped and counted (frames_dropped{reason="twilio_lag"}), the call goes on.
  app.add_option("--max-reply-queue", media.max_reply_queue,
                 "Replies from the primary backend that may wait to go to the caller; more are dropped and counted "
                 "(callproxy_frames_dropped_total{reason=\"twilio_lag\"}), the call goes on")
      ->envname("CALLPROXY_MAX_REPLY_QUEUE")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--max-reply-queue-bytes", media.max_reply_queue_bytes,
                 "Bytes of replies from the primary backend that may wait to go to the caller; more are dropped "
                 "and counted")
      ->envname("CALLPROXY_MAX_REPLY_QUEUE_BYTES")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))
      ->capture_default_str();
}

void add_stream_flags(CLI::App& app, proxy::MediaOptions& media) {
  app.option_defaults()->group(group::streams);
  add_duration(app, "--start-timeout", media.start_timeout,
               "How long a stream may stay open without a 'start' message (then close 1008)", {0.1, 600})
      ->envname("CALLPROXY_START_TIMEOUT");
  add_duration(app, "--stream-idle-timeout", media.stream_idle_timeout,
               "How long a stream from Twilio may send nothing: pinged after half of it, dropped (backends get "
               "'stop') when the ping gets no answer either",
               {0.2, 3600})
      ->envname("CALLPROXY_STREAM_IDLE_TIMEOUT");
  app.add_option("--max-message-bytes", media.max_message_bytes,
                 "Largest WebSocket message accepted, either direction (larger: close 1009)")
      ->envname("CALLPROXY_MAX_MESSAGE_BYTES")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{16} << 20))
      ->capture_default_str();
  app.add_option("--max-control-frames", media.max_control_frames,
                 "Pings and pongs a peer (Twilio's side or a backend) may send per second, as many at once; "
                 "past it the stream is closed (1008) and counted (callproxy_flood_closes_total)")
      ->envname("CALLPROXY_MAX_CONTROL_FRAMES")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--max-message-fragments", media.max_message_fragments,
                 "Frames one fragmented WebSocket message may come in (Twilio never fragments); past it the stream is "
                 "closed (1009) and counted likewise")
      ->envname("CALLPROXY_MAX_MESSAGE_FRAGMENTS")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000'000}))
      ->capture_default_str();
  app.add_option("--max-frame-bytes", media.max_frame_bytes,
                 "Largest media payload accepted, in decoded bytes; larger frames are dropped and counted (Twilio "
                 "sends 160; the Node service's test client sends a whole recording in one)")
      ->envname("CALLPROXY_MAX_FRAME_BYTES")
      ->check(CLI::Range(std::size_t{1}, std::size_t{12} << 20))
      ->capture_default_str();
}

}  // namespace callproxy::cli
