// One call's audio as each of its backends wants it (audio/audio_shape.h): a feed per distinct
// shape, each frame converted once per distinct source, codec and rate and written once per
// feed, then shared by every backend of that feed. Feed 0 is Twilio's own shape: the message as
// it came (or in the simple format's words), with no conversion at all, exactly as before shapes
// existed. Lives on the call's loop, like the call.
//
// The primary's side (tracks both, mix, stereo) is what the call sent Twilio, placed when the
// caller hears it: Twilio plays replies in order at 20 ms per 20 ms frame, so each frame of the
// caller's takes the next frame's worth of what the primary sent (silence when nothing is
// waiting), and a clear drops what was not yet heard. Both sides then run on the call's clock,
// and a 60 s call is 60 s long in every track.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audio/audio_shape.h"
#include "audio/shape_converter.h"
#include "proxy/media/frame_text.h"
#include "twilio/backend_protocol.h"
#include "twilio/media_message.h"

namespace callproxy::proxy {

class AudioFeeds {
 public:
  // The primary's audio waiting to be heard is bounded (60 s of it): past that, what the primary
  // sends is left out of the tracks (Twilio still gets it).
  static constexpr std::size_t max_reply_backlog = 60 * 8000;

  explicit AudioFeeds(twilio::BackendFormat format);

  // The feed that carries `shape` (made on first ask).
  std::size_t feed_for(const audio::AudioShape& shape);
  // A backend of the call takes `feed`: only such feeds (and the conversions they need) are
  // computed, feed 0 included.
  void use(std::size_t feed);
  const audio::AudioShape& shape(std::size_t feed) const { return feeds_[feed].shape; }
  bool used(std::size_t feed) const { return feeds_[feed].used; }
  bool binary(std::size_t feed) const { return feeds_[feed].shape.frames == audio::Framing::binary; }
  std::size_t size() const { return feeds_.size(); }
  // Whether a feed carries the primary's side: the call then reports its replies and clears.
  bool hears_replies() const { return hears_replies_; }

  // The start message a backend of `feed` gets (its mediaFormat and tracks name the feed's shape),
  // with the stream token left out: it is for serve. `twilio_text` is Twilio's own start, which
  // feed 0 of the twilio format forwards as it came.
  FrameText start_for(std::size_t feed, const twilio::StartMessage& start, std::string_view twilio_text) const;

  // One media frame from Twilio: `payload` is its valid base64 (checked), `text` the message.
  // Afterwards frames(feed) are each feed's messages for it, in order (until the next frame):
  // one, or for tracks=both the caller's then the primary's.
  void on_media(std::string_view payload, std::string_view text);
  std::span<const FrameText> frames(std::size_t feed) const { return {feeds_[feed].frames, feeds_[feed].count}; }

  // What the primary sent the caller, as Twilio plays it (8 kHz mu-law): heard from the next
  // frame on. Only when hears_replies().
  void on_reply_audio(std::span<const std::uint8_t> mulaw);
  // The primary cleared Twilio's buffer: what was not yet heard never will be.
  void on_clear();
  // Bytes of the primary's audio not yet heard.
  std::size_t reply_backlog() const { return backlog_.size() - backlog_at_; }

 private:
  enum class Source { inbound, outbound, mix };
  struct Conversion {
    Conversion(Source s, audio::AudioShape shape) : source(s), to(shape) {}
    Source source;
    audio::ToShape to;
    std::span<const std::uint8_t> bytes;  // this frame's
    bool used = false;
  };
  struct Feed {
    audio::AudioShape shape;
    std::size_t first = 0, second = 0;  // conversions: the caller's (or the mix); the primary's
    FrameText frames[2];
    std::size_t count = 1;
    bool used = false;
  };

  std::size_t conversion_for(Source source, const audio::AudioShape& shape);
  void take_heard_frame(std::size_t bytes);
  void write_feed(Feed& feed, std::string_view payload, std::string_view text);
  void write_message(FrameText& out, const audio::AudioShape& shape, std::span<const std::uint8_t> bytes,
                     std::string_view track, std::string_view payload, std::string_view text);

  twilio::BackendFormat format_;
  std::vector<Feed> feeds_;
  std::vector<std::unique_ptr<Conversion>> conversions_;
  bool hears_replies_ = false, mixes_ = false, any_shaped_ = false;
  std::vector<std::uint8_t> mulaw_;    // the caller's frame, decoded once
  std::vector<std::uint8_t> heard_;    // the primary's frame heard meanwhile (mu-law)
  std::vector<std::uint8_t> backlog_;  // the primary's audio not yet heard, from backlog_at_
  std::size_t backlog_at_ = 0;
  std::vector<std::int16_t> caller_linear_, primary_linear_, mix_;
  std::vector<std::uint8_t> stereo_;
  std::string base64_;  // scratch
};

}  // namespace callproxy::proxy
