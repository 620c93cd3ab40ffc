#include "audio/shape_converter.h"

#include <speex/speex_resampler.h>

#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "twilio/mulaw.h"

namespace callproxy::audio {

// Quality 3 of speexdsp's 0-10 for replies going down (bench/resamplers, bench/README.md
// "Resamplers"): what 8 kHz cannot carry must be down 80 dB or more (quality 3: 82); lower
// qualities save under 1 µs a frame and droop near 3.4 kHz.
constexpr int resampler_quality = 3;

struct Resampler::State {
  SpeexResamplerState* speex;
};

Resampler::Resampler(int from_rate, int to_rate) : from_(from_rate), to_(to_rate) {
  int error = 0;
  auto* speex = speex_resampler_init(1, static_cast<spx_uint32_t>(from_rate), static_cast<spx_uint32_t>(to_rate),
                                     resampler_quality, &error);
  if (!speex) {
    throw std::runtime_error("cannot resample " + std::to_string(from_rate) + " Hz to " + std::to_string(to_rate) +
                             " Hz: " + speex_resampler_strerror(error));
  }
  // The filter's delay is not written out: output sample i is input time i / to_rate.
  speex_resampler_skip_zeros(speex);
  state_ = new State{speex};
}

Resampler::~Resampler() {
  if (state_) {
    speex_resampler_destroy(state_->speex);
    delete state_;
  }
}

Resampler::Resampler(Resampler&& other) noexcept
    : state_(std::exchange(other.state_, nullptr)), from_(other.from_), to_(other.to_) {}

Resampler& Resampler::operator=(Resampler&& other) noexcept {
  Resampler moved(std::move(other));
  std::swap(state_, moved.state_);
  std::swap(from_, moved.from_);
  std::swap(to_, moved.to_);
  return *this;
}

void Resampler::process(std::span<const std::int16_t> in, std::vector<std::int16_t>& out) {
  // What the ratio gives, and room for what the filter released from earlier input.
  const auto room = in.size() * static_cast<std::size_t>(to_) / static_cast<std::size_t>(from_) + 64;
  auto produced = out.size();
  while (!in.empty()) {
    out.resize(produced + room);
    auto in_len = static_cast<spx_uint32_t>(in.size());
    auto out_len = static_cast<spx_uint32_t>(room);
    speex_resampler_process_int(state_->speex, 0, in.data(), &in_len, out.data() + produced, &out_len);
    produced += out_len;
    in = in.subspan(in_len);
    if (in_len == 0 && out_len == 0) break;  // cannot happen: speexdsp always takes input given room
  }
  out.resize(produced);
}

void pcm16_to_bytes(std::span<const std::int16_t> samples, std::vector<std::uint8_t>& out) {
  out.resize(samples.size() * 2);
  if constexpr (std::endian::native == std::endian::little) {
    if (!samples.empty()) std::memcpy(out.data(), samples.data(), out.size());
    return;
  }
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto u = static_cast<std::uint16_t>(samples[i]);
    out[2 * i] = static_cast<std::uint8_t>(u & 0xFF);
    out[2 * i + 1] = static_cast<std::uint8_t>(u >> 8);
  }
}

ToShape::ToShape(AudioShape shape) : shape_(shape) {
  if (shape_.rate != 8000) upsampler_ = std::make_unique<Upsampler>(shape_.rate / 8000);
}

std::span<const std::uint8_t> ToShape::convert(std::span<const std::uint8_t> mulaw) {
  if (shape_.codec == Codec::mulaw) return mulaw;  // mulaw@8000: the bytes as they came
  linear_.resize(mulaw.size());
  twilio::mulaw_decode(mulaw, linear_);
  return convert_linear(linear_);
}

std::span<const std::uint8_t> ToShape::convert_linear(std::span<const std::int16_t> linear) {
  std::span<const std::int16_t> at_rate = linear;
  if (upsampler_) {
    resampled_.clear();
    upsampler_->process(linear, resampled_);
    at_rate = resampled_;
  }
  if (shape_.codec == Codec::mulaw) {
    bytes_.resize(at_rate.size());
    twilio::mulaw_encode(at_rate, bytes_);
  } else {
    pcm16_to_bytes(at_rate, bytes_);
  }
  return bytes_;
}

FromShape::FromShape(AudioShape shape) : shape_(shape) {
  if (shape_.rate != 8000) resampler_ = std::make_unique<Resampler>(shape_.rate, 8000);
}

std::span<const std::uint8_t> FromShape::convert(std::span<const std::uint8_t> bytes) {
  if (shape_.codec == Codec::mulaw) return bytes;
  linear_.clear();
  std::size_t at = 0;
  if (has_odd_byte_ && !bytes.empty()) {
    linear_.push_back(static_cast<std::int16_t>(odd_byte_ | (bytes[0] << 8)));
    has_odd_byte_ = false;
    at = 1;
  }
  for (; at + 1 < bytes.size(); at += 2) {
    linear_.push_back(static_cast<std::int16_t>(bytes[at] | (bytes[at + 1] << 8)));
  }
  if (at < bytes.size()) {
    has_odd_byte_ = true;
    odd_byte_ = bytes[at];
  }
  const std::vector<std::int16_t>* eight_khz = &linear_;
  if (resampler_) {
    resampled_.clear();
    resampler_->process(linear_, resampled_);
    eight_khz = &resampled_;
  }
  mulaw_.resize(eight_khz->size());
  twilio::mulaw_encode(*eight_khz, mulaw_);
  return mulaw_;
}

}  // namespace callproxy::audio
