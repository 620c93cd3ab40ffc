// Delayed acknowledgements on a socket that mostly receives (the Twilio side of a call: a frame
// every 20 ms in, almost nothing out).
//
// Linux acknowledges at once every small pushed segment an application reads, unless the socket
// is in "ping-pong" (interactive) mode, where one ACK covers two segments or waits for the
// delayed-ACK timer. A socket enters that mode by sending soon after receiving (our 101 answer)
// and leaves it for good the first time the delayed-ACK timer fires, which a call's set-up
// (connected, start, then the first frame) easily causes. Measured with the load driver at 1,000
// calls: ~0.95 ACKs per frame against 0.5 for a plain relay, each ACK a loopback packet sent and
// received in the proxy's system time. TCP_QUICKACK = 0 puts the socket back in that mode.
// It is a hint the kernel may leave again: callers repeat it now and then (per call, never per
// frame). A sender with Nagle on waits for the ACK of each frame before it sends the next, and a
// delayed ACK comes only when the timer fires (40 ms or more): such a sender makes the kernel leave
// the mode at every frame, so a caller that finds the mode lost each time it looks should stop
// renewing it (proxy/media/call_session.cpp does after two looks in a row).
#pragma once

namespace callproxy::net {

// Best effort: false (and nothing changed) where the socket is not TCP or the option is missing.
bool prefer_delayed_acks(int fd) noexcept;

// Whether the socket acknowledges each segment at once (TCP_QUICKACK as the kernel reports it).
bool acks_at_once(int fd) noexcept;

}  // namespace callproxy::net
