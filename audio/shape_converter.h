// Audio between Twilio's shape (8 kHz mu-law) and a backend's (audio/audio_shape.h), one call and
// one direction per object: the resampler keeps what it needs of the last frame, so 20 ms frames
// join without clicks. No allocation per frame once the first frame has sized the buffers.
//
// Going up (the caller's audio to a 16 or 24 kHz backend) is audio/upsampler.h's polyphase filter,
// made for whole factors from 8 kHz. Going down (a backend's replies to Twilio's 8 kHz) is
// speexdsp's resampler, chosen by measurement (bench/resamplers, results in bench/README.md,
// "Resamplers"), at quality 3: what 8 kHz cannot carry is down 82 dB or more before it decimates,
// over the telephone band it keeps 86-91 dB on a tone, it holds back 3 ms of audio, and costs
// 2.5-4.5 µs per 20 ms frame. soxr is cheaper but holds back 15-66 ms (it works in blocks): too
// much on a live call. libsamplerate's sinc converters cost 10-25x more for no gain here.
// speexdsp's is also the resampler telephony servers use. Replies are one stream per call (the
// primary's); every backend's feed in another rate is the caller's, so that direction is where
// the CPU goes.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "audio/audio_shape.h"
#include "audio/upsampler.h"

namespace callproxy::audio {

// A streaming sample-rate converter for 16-bit mono PCM (speexdsp). Its output is
// aligned with its input (the filter's delay is skipped at the start), so a sample at time t
// comes out at time t.
class Resampler {
 public:
  Resampler(int from_rate, int to_rate);
  ~Resampler();
  Resampler(Resampler&&) noexcept;
  Resampler& operator=(Resampler&&) noexcept;

  // Appends to `out` what `in` gives (about in.size() * to / from samples).
  void process(std::span<const std::int16_t> in, std::vector<std::int16_t>& out);

 private:
  struct State;
  State* state_ = nullptr;
  int from_ = 0, to_ = 0;
};

// Signed 16-bit little-endian bytes, whatever the host's order.
void pcm16_to_bytes(std::span<const std::int16_t> samples, std::vector<std::uint8_t>& out);

// Twilio's mu-law frames to a backend's shape.
class ToShape {
 public:
  explicit ToShape(AudioShape shape);
  // The shape's bytes for one frame of 8 kHz mu-law (valid until the next call).
  std::span<const std::uint8_t> convert(std::span<const std::uint8_t> mulaw);
  // The same for a frame of 8 kHz linear samples (a mix of both sides).
  std::span<const std::uint8_t> convert_linear(std::span<const std::int16_t> linear);
  const AudioShape& shape() const { return shape_; }

 private:
  AudioShape shape_;
  std::unique_ptr<Upsampler> upsampler_;  // only when the rate is not 8 kHz
  std::vector<std::int16_t> linear_, resampled_;
  std::vector<std::uint8_t> bytes_;
};

// A backend's replies in its shape back to Twilio's 8 kHz mu-law (the resampler filters out what
// 8 kHz cannot carry before it decimates).
class FromShape {
 public:
  explicit FromShape(AudioShape shape);
  // Mu-law for `bytes` of the shape (valid until the next call). A pcm16 sample split across two
  // messages is put together; an odd byte left at the end waits for the next message.
  std::span<const std::uint8_t> convert(std::span<const std::uint8_t> bytes);

 private:
  AudioShape shape_;
  std::unique_ptr<Resampler> resampler_;
  std::vector<std::int16_t> linear_, resampled_;
  std::vector<std::uint8_t> mulaw_;
  bool has_odd_byte_ = false;
  std::uint8_t odd_byte_ = 0;
};

}  // namespace callproxy::audio
