// One backend of one call: a WebSocket client on the call's own event loop, with a bounded
// write queue measured in audio time, reconnection after a drop, and nothing that can stall
// the caller or the call's other backends. Beast lives in backend_link.cpp.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/media/backend_target.h"
#include "proxy/media/frame_text.h"
#include "proxy/media/media_options.h"
#include "proxy/metrics/metrics.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio
namespace callproxy::net {
class LazyClientTlsContext;
}

namespace callproxy::proxy {

// A message on its way to backends; the text is shared by every backend of the call.
struct OutboundFrame {
  FrameText text;
  std::chrono::microseconds audio{0};  // media: the audio it carries; 0 for control messages
  std::chrono::steady_clock::time_point received{};
  bool binary = false;  // a binary WebSocket message (an audio shape's raw frames), else text
};

class BackendLink {
 public:
  struct Events {
    // A message the backend sent, and whether it came as a binary message.
    std::function<void(BackendLink&, std::string_view, bool binary)> on_message;
    // The link is gone for good (failed, fell behind, gave up reconnecting, or finished).
    std::function<void(BackendLink&, std::string_view reason)> on_closed;
  };

  virtual ~BackendLink() = default;
  virtual const BackendTarget& target() const = 0;
  virtual void send(const OutboundFrame& frame) = 0;
  // Deliver what is queued, then close normally; bounded by a short timeout.
  virtual void finish() = 0;
  virtual bool closed() const = 0;
};

struct BackendLinkConfig {
  BackendTarget target;
  std::string call_label;                       // "MZ… (CA…)" for log lines
  std::vector<FrameText> preamble;              // sent first on every (re)connection: the call's start
  std::shared_ptr<const MediaOptions> options;  // the call's settings (kept while the link lives)
  Metrics* metrics = nullptr;
  net::LazyClientTlsContext* tls = nullptr;  // for wss://
  // The call's places among serve's limits: each connection keeps them until its socket is
  // closed, lingering after a close included.
  std::shared_ptr<void> held;
};

std::shared_ptr<BackendLink> start_backend_link(boost::asio::io_context& loop, BackendLinkConfig config,
                                                BackendLink::Events events);

}  // namespace callproxy::proxy
