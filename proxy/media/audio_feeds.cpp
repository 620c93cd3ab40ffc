#include "proxy/media/audio_feeds.h"

#include <algorithm>

#include "twilio/base64.h"
#include "twilio/mulaw.h"

namespace callproxy::proxy {

using audio::Framing;
using audio::Tracks;

AudioFeeds::AudioFeeds(twilio::BackendFormat format) : format_(format) { feeds_.push_back(Feed{}); }

std::size_t AudioFeeds::conversion_for(Source source, const audio::AudioShape& shape) {
  for (std::size_t c = 0; c < conversions_.size(); ++c) {
    if (conversions_[c]->source == source && conversions_[c]->to.shape().same_audio(shape)) return c;
  }
  conversions_.push_back(std::make_unique<Conversion>(source, shape));
  return conversions_.size() - 1;
}

std::size_t AudioFeeds::feed_for(const audio::AudioShape& shape) {
  for (std::size_t i = 0; i < feeds_.size(); ++i) {
    if (feeds_[i].shape == shape) return i;
  }
  Feed feed;
  feed.shape = shape;
  switch (shape.tracks) {
    case Tracks::inbound: feed.first = conversion_for(Source::inbound, shape); break;
    case Tracks::mix:
      feed.first = conversion_for(Source::mix, shape);
      mixes_ = hears_replies_ = true;
      break;
    case Tracks::both:
    case Tracks::stereo:
      feed.first = conversion_for(Source::inbound, shape);
      feed.second = conversion_for(Source::outbound, shape);
      hears_replies_ = true;
      break;
  }
  feed.count = shape.tracks == Tracks::both ? 2 : 1;
  feeds_.push_back(std::move(feed));
  return feeds_.size() - 1;
}

void AudioFeeds::use(std::size_t feed) {
  auto& f = feeds_[feed];
  f.used = true;
  if (feed == 0) return;
  any_shaped_ = true;
  conversions_[f.first]->used = true;
  if (f.shape.tracks == Tracks::both || f.shape.tracks == Tracks::stereo) conversions_[f.second]->used = true;
}

FrameText AudioFeeds::start_for(std::size_t feed, const twilio::StartMessage& start,
                                std::string_view twilio_text) const {
  if (feed == 0 && format_ == twilio::BackendFormat::twilio) return FrameText::copy_of(twilio_text);
  auto shaped = start;
  shaped.custom_parameters.erase("streamToken");
  const auto& shape = feeds_[feed].shape;
  if (feed != 0) {
    shaped.media_format = twilio::MediaFormat{std::string(shape.encoding()), shape.rate, shape.channels()};
    if (shape.tracks != Tracks::inbound) shaped.tracks = {"inbound", "outbound"};
  }
  return FrameText::copy_of(twilio::write_backend_message(format_, twilio::TwilioMessage{shaped}));
}

void AudioFeeds::on_reply_audio(std::span<const std::uint8_t> mulaw) {
  // Compacted when what was heard is most of it: the buffer's capacity is kept.
  if (backlog_at_ > 0 && backlog_at_ >= backlog_.size() / 2) {
    backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(backlog_at_));
    backlog_at_ = 0;
  }
  const auto room = max_reply_backlog - std::min(max_reply_backlog, reply_backlog());
  backlog_.insert(backlog_.end(), mulaw.begin(),
                  mulaw.begin() + static_cast<std::ptrdiff_t>(std::min(room, mulaw.size())));
}

void AudioFeeds::on_clear() {
  backlog_.clear();
  backlog_at_ = 0;
}

void AudioFeeds::take_heard_frame(std::size_t bytes) {
  heard_.assign(bytes, twilio::mulaw_silence);
  const auto n = std::min(bytes, reply_backlog());
  std::copy_n(backlog_.begin() + static_cast<std::ptrdiff_t>(backlog_at_), n, heard_.begin());
  backlog_at_ += n;
  if (backlog_at_ == backlog_.size()) {
    backlog_.clear();
    backlog_at_ = 0;
  }
}

void AudioFeeds::on_media(std::string_view payload, std::string_view text) {
  // Feed 0: as it came (twilio format) or in the simple format's words; no decoding.
  auto& plain = feeds_[0];
  if (plain.used) {
    plain.frames[0] = FrameText::make();
    if (format_ == twilio::BackendFormat::twilio) {
      plain.frames[0].text().assign(text);
    } else {
      twilio::write_simple_media(plain.frames[0].text(), payload);
    }
  }
  if (!any_shaped_) return;

  if (!twilio::base64_decode_into(payload, mulaw_)) mulaw_.clear();  // checked before: cannot fail
  if (hears_replies_) take_heard_frame(mulaw_.size());
  if (mixes_) {
    caller_linear_.resize(mulaw_.size());
    primary_linear_.resize(heard_.size());
    twilio::mulaw_decode(mulaw_, caller_linear_);
    twilio::mulaw_decode(heard_, primary_linear_);
    mix_.resize(caller_linear_.size());
    for (std::size_t i = 0; i < mix_.size(); ++i) {
      mix_[i] = static_cast<std::int16_t>(std::clamp(caller_linear_[i] + primary_linear_[i], -32768, 32767));
    }
  }
  for (auto& c : conversions_) {
    if (!c->used) continue;
    switch (c->source) {
      case Source::inbound: c->bytes = c->to.convert(mulaw_); break;
      case Source::outbound: c->bytes = c->to.convert(heard_); break;
      case Source::mix: c->bytes = c->to.convert_linear(mix_); break;
    }
  }
  for (std::size_t i = 1; i < feeds_.size(); ++i) {
    if (feeds_[i].used) write_feed(feeds_[i], payload, text);
  }
}

void AudioFeeds::write_feed(Feed& feed, std::string_view payload, std::string_view text) {
  const auto first = conversions_[feed.first]->bytes;
  switch (feed.shape.tracks) {
    case Tracks::inbound:
    case Tracks::mix: return write_message(feed.frames[0], feed.shape, first, {}, payload, text);
    case Tracks::both:
      write_message(feed.frames[0], feed.shape, first, "inbound", payload, text);
      return write_message(feed.frames[1], feed.shape, conversions_[feed.second]->bytes, "outbound", payload, text);
    case Tracks::stereo: {
      // 16-bit samples interleaved, the caller left and the primary right. Both sides came
      // through resamplers of the same kind from the same number of samples: the same length.
      const auto second = conversions_[feed.second]->bytes;
      const auto samples = std::min(first.size(), second.size()) / 2;
      stereo_.resize(samples * 4);
      for (std::size_t i = 0; i < samples; ++i) {
        stereo_[4 * i] = first[2 * i];
        stereo_[4 * i + 1] = first[2 * i + 1];
        stereo_[4 * i + 2] = second[2 * i];
        stereo_[4 * i + 3] = second[2 * i + 1];
      }
      return write_message(feed.frames[0], feed.shape, stereo_, {}, payload, text);
    }
  }
}

void AudioFeeds::write_message(FrameText& frame, const audio::AudioShape& shape, std::span<const std::uint8_t> bytes,
                               std::string_view track, std::string_view payload, std::string_view text) {
  frame = FrameText::make();
  auto& out = frame.text();
  if (shape.frames == Framing::binary) {
    out.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return;
  }
  base64_.clear();
  twilio::base64_append(base64_, bytes);
  if (format_ == twilio::BackendFormat::simple) {
    if (track.empty()) return twilio::write_simple_media(out, base64_);
    // tracks=both: each message says whose it is, as Twilio's do.
    out.assign(R"({"event":"media","track":")");
    out += track;
    out += R"(","media":")";
    out += base64_;
    out += R"("})";
    return;
  }
  // Twilio's own message with the payload replaced. When the payload lies in the text (the media
  // fast path found it there: Twilio's own layout, no escapes), around it stays byte for byte.
  const bool in_text = payload.data() >= text.data() && payload.data() + payload.size() <= text.data() + text.size();
  if (in_text && track != "outbound") {
    const auto at = static_cast<std::size_t>(payload.data() - text.data());
    out.assign(text.substr(0, at));
    out += base64_;
    out += text.substr(at + payload.size());
    return;
  }
  // Otherwise (an escaped message, or the primary's side) Twilio's message is read and written.
  auto parsed = twilio::parse_twilio_message(text);
  auto* media = parsed ? std::get_if<twilio::MediaMessage>(&parsed.value()) : nullptr;
  if (!media) {  // cannot happen: the text was read as media before
    twilio::write_simple_media(out, base64_);
    return;
  }
  media->payload = base64_;
  if (!track.empty()) media->track = track;
  out = twilio::serialize(parsed.value());
}

}  // namespace callproxy::proxy
