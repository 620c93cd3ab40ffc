// One call's audio as each of its backends wants it (audio/audio_shape.h): a feed per distinct
// shape, each frame converted once per distinct codec and rate and written once per feed, then
// shared by every backend of that feed. Feed 0 is Twilio's own shape: the message as it came
// (or in the simple format's words), with no conversion at all, exactly as before shapes
// existed. Lives on the call's loop, like the call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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
  explicit AudioFeeds(twilio::BackendFormat format);

  // The feed that carries `shape` (made on first ask).
  std::size_t feed_for(const audio::AudioShape& shape);
  const audio::AudioShape& shape(std::size_t feed) const { return feeds_[feed].shape; }
  bool binary(std::size_t feed) const { return feeds_[feed].shape.frames == audio::Framing::binary; }
  std::size_t size() const { return feeds_.size(); }

  // The start message a backend of `feed` gets (its mediaFormat names the feed's shape), with
  // the stream token left out: it is for serve. `twilio_text` is Twilio's own start, which feed 0
  // of the twilio format forwards as it came.
  FrameText start_for(std::size_t feed, const twilio::StartMessage& start, std::string_view twilio_text) const;

  // One media frame from Twilio: `payload` is its valid base64 (checked), `text` the message.
  // Afterwards frame(feed) is each feed's message (until the next frame).
  void on_media(std::string_view payload, std::string_view text);
  const FrameText& frame(std::size_t feed) const { return feeds_[feed].frame; }

 private:
  struct Conversion {
    explicit Conversion(audio::AudioShape shape) : to(shape) {}
    audio::ToShape to;
    std::span<const std::uint8_t> bytes;  // this frame's
  };
  struct Feed {
    audio::AudioShape shape;
    std::size_t conversion = 0;  // into conversions_ (feed 0: none)
    FrameText frame;
  };

  void write_media(Feed& feed, std::string_view payload, std::string_view text);

  twilio::BackendFormat format_;
  std::vector<Feed> feeds_;
  std::vector<std::unique_ptr<Conversion>> conversions_;
  std::vector<std::uint8_t> mulaw_;  // this frame's, decoded once
  std::string base64_;               // scratch
};

}  // namespace callproxy::proxy
