// The /media endpoint: one Twilio media stream and its backend links, all on one event loop.
// Internal to serve's networking sources (it names Asio and Beast types).
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <atomic>

#include "net/loop_stream.h"
#include "proxy/media/call_registry.h"
#include "proxy/media/media_options.h"
#include "proxy/metrics/metrics.h"
#include "proxy/store/state_store.h"

namespace callproxy::net {
class LazyClientTlsContext;
}
namespace callproxy::proxy {
class RecordingWriter;
}

namespace callproxy::proxy {

// What every call of a server shares; outlives all calls.
struct CallContext {
  // The media settings a new call starts with, kept by the call (and its backend links) for its
  // whole life: replaced whole by serve's SIGHUP reload (a new allowlist, default backends...),
  // never changed in place, so a call reads one consistent set, loaded once, on any loop.
  std::atomic<std::shared_ptr<const MediaOptions>> options;
  ServerMetrics& metrics;  // each call counts into its loop's shard
  StateStore& store;
  CallRegistry& registry;
  net::LazyClientTlsContext& backend_tls;  // for wss:// backends, loaded on first use
  RecordingWriter* recorder = nullptr;     // with --record-dir: where record: backends write
  // Set once the server is going away with its (stopped) loops: a call destroyed then tells its
  // store and backends nothing (the store may be gone already).
  std::atomic<bool> closing{false};
};

// Completes the WebSocket handshake of an (already validated) upgrade request and runs the call.
// `held` is kept until the call is gone (the places the call takes among the server's limits).
void start_call_session(net::LoopTcpStream stream, boost::beast::http::request<boost::beast::http::string_body> request,
                        CallContext& context, std::shared_ptr<void> held = nullptr);
void start_call_session(boost::beast::ssl_stream<net::LoopTcpStream> stream,
                        boost::beast::http::request<boost::beast::http::string_body> request, CallContext& context,
                        std::shared_ptr<void> held = nullptr);

}  // namespace callproxy::proxy
