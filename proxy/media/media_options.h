// The media path's settings: where a call's audio may go, in which format, and the limits that
// keep one slow or hostile peer from costing the others. Filled by the CLI, validated at start.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "proxy/media/backend_allowlist.h"
#include "proxy/media/transfer_allowlist.h"
#include "twilio/backend_protocol.h"

namespace callproxy::proxy {

using BackendFormat = twilio::BackendFormat;  // what backends receive: simple JSON or Twilio's own
enum class ReplyPolicy { first, none };
// A <Connect><Stream> is bidirectional; a <Start><Stream> (a fork) only carries the call's audio
// out, and Twilio does not take audio back on it. Twilio's messages do not say which it is: the
// flow says so in a custom parameter (streamMode), else this default applies.
enum class StreamMode { connect, fork };

struct MediaOptions {
  std::vector<std::string> default_backends;  // for calls whose start names none
  BackendAllowlist backend_allowlist;         // empty: any backend
  BackendFormat backend_format = BackendFormat::simple;
  ReplyPolicy replies = ReplyPolicy::first;
  StreamMode stream_mode = StreamMode::connect;
  std::size_t max_mark_name_bytes = 256;  // a mark name a backend may send back to Twilio
  bool backend_reconnect = true;
  std::chrono::milliseconds backend_reconnect_window{10'000};  // give up after this long
  std::chrono::milliseconds max_backend_lag{2'000};            // audio queued behind a backend
  std::size_t max_backend_queue_bytes = 256 * 1024;            // every message queued behind a backend
  std::chrono::milliseconds backend_connect_timeout{5'000};
  std::string backend_ca;  // extra CA file for wss:// backends
  std::string record_dir;  // where record: backends write; empty: record: is refused
  // Per-call stream tokens (twilio/stream_token.h): with a secret, every stream's start must carry
  // a valid token (customParameters.streamToken, or ?token= on the handshake) or it is closed
  // (1008) before any backend is connected. The call flow mints tokens valid for the TTL. A token
  // serves one stream: the state store remembers it used until its expiry and the skew after it
  // (an instance whose clock is that much behind still takes it for unexpired).
  std::string stream_token_secret;  // never logged
  std::chrono::seconds stream_token_ttl{60};
  std::chrono::seconds stream_token_clock_skew{60};

  std::size_t max_message_bytes = 64 * 1024;  // one WebSocket message, either direction
  // What a peer (Twilio's side or a backend) may make a stream do that costs loop time but no
  // message bytes: pings and pongs per second (as many at once), frames per fragmented message.
  // Twilio sends no pings and never fragments; keep-alive pings come every few seconds.
  unsigned max_control_frames = 32;                 // per second; past it the stream is closed (1008)
  std::size_t max_message_fragments = 128;          // past it the stream is closed (1009)
  std::size_t max_frame_bytes = 32 * 1024;          // one media payload, decoded (Twilio sends 160)
  std::size_t max_backends_per_call = 8;            // a start naming more is refused (1008)
  std::chrono::milliseconds start_timeout{10'000};  // a stream without `start` by then is closed (1008)
  // Twilio sends a frame every 20 ms for the whole call: a stream from which nothing has come for
  // half of this is pinged, and one silent (no pong either) for all of it is gone. Not Beast's idle
  // timer, which is re-armed on every read: a silent stream costs a tick per half period instead.
  std::chrono::milliseconds stream_idle_timeout{15'000};
  std::size_t max_reply_queue = 1024;               // messages waiting to go to Twilio ...
  std::size_t max_reply_queue_bytes = 1024 * 1024;  // ... and their bytes

  // A bot steering its call (twilio/call_control.h): where its primary may transfer it, and how
  // long its decision waits in the state store for the flow's after-stream request.
  TransferAllowlist transfer_allow;  // empty: no transfer
  std::chrono::milliseconds decision_ttl{600'000};

  std::chrono::milliseconds execution_ttl{5'000};      // the Node service's 5 s "connected" mark ...
  std::chrono::milliseconds execution_refresh{4'000};  // ... refreshed every 4 s
};

}  // namespace callproxy::proxy
