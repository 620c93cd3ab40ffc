#include "proxy/media/audio_feeds.h"

#include "twilio/base64.h"

namespace callproxy::proxy {

AudioFeeds::AudioFeeds(twilio::BackendFormat format) : format_(format) { feeds_.push_back(Feed{}); }

std::size_t AudioFeeds::feed_for(const audio::AudioShape& shape) {
  for (std::size_t i = 0; i < feeds_.size(); ++i) {
    if (feeds_[i].shape == shape) return i;
  }
  Feed feed;
  feed.shape = shape;
  feed.conversion = conversions_.size();
  for (std::size_t c = 0; c < conversions_.size(); ++c) {
    if (conversions_[c]->to.shape().same_audio(shape)) feed.conversion = c;
  }
  if (feed.conversion == conversions_.size()) conversions_.push_back(std::make_unique<Conversion>(shape));
  feeds_.push_back(std::move(feed));
  return feeds_.size() - 1;
}

FrameText AudioFeeds::start_for(std::size_t feed, const twilio::StartMessage& start,
                                std::string_view twilio_text) const {
  if (feed == 0 && format_ == twilio::BackendFormat::twilio) return FrameText::copy_of(twilio_text);
  auto shaped = start;
  shaped.custom_parameters.erase("streamToken");
  const auto& shape = feeds_[feed].shape;
  if (feed != 0) shaped.media_format = twilio::MediaFormat{std::string(shape.encoding()), shape.rate, 1};
  return FrameText::copy_of(twilio::write_backend_message(format_, twilio::TwilioMessage{shaped}));
}

void AudioFeeds::on_media(std::string_view payload, std::string_view text) {
  // Feed 0: as it came (twilio format) or in the simple format's words; no decoding.
  auto& plain = feeds_[0];
  plain.frame = FrameText::make();
  if (format_ == twilio::BackendFormat::twilio) {
    plain.frame.text().assign(text);
  } else {
    twilio::write_simple_media(plain.frame.text(), payload);
  }
  if (feeds_.size() == 1) return;

  if (!twilio::base64_decode_into(payload, mulaw_)) mulaw_.clear();  // checked before: cannot fail
  for (auto& conversion : conversions_) conversion->bytes = conversion->to.convert(mulaw_);
  for (std::size_t i = 1; i < feeds_.size(); ++i) write_media(feeds_[i], payload, text);
}

void AudioFeeds::write_media(Feed& feed, std::string_view payload, std::string_view text) {
  const auto bytes = conversions_[feed.conversion]->bytes;
  feed.frame = FrameText::make();
  auto& out = feed.frame.text();
  if (feed.shape.frames == audio::Framing::binary) {
    out.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return;
  }
  base64_.clear();
  twilio::base64_append(base64_, bytes);
  if (format_ == twilio::BackendFormat::simple) return twilio::write_simple_media(out, base64_);
  // Twilio's own message with the payload replaced. When the payload lies in the text (the media
  // fast path found it there: Twilio's own layout, no escapes), around it stays byte for byte.
  if (payload.data() >= text.data() && payload.data() + payload.size() <= text.data() + text.size()) {
    const auto at = static_cast<std::size_t>(payload.data() - text.data());
    out.assign(text.substr(0, at));
    out += base64_;
    out += text.substr(at + payload.size());
    return;
  }
  auto parsed = twilio::parse_twilio_message(text);
  auto* media = parsed ? std::get_if<twilio::MediaMessage>(&parsed.value()) : nullptr;
  if (!media) {  // cannot happen: the text was read as media before
    twilio::write_simple_media(out, base64_);
    return;
  }
  media->payload = base64_;
  out = twilio::serialize(parsed.value());
}

}  // namespace callproxy::proxy
