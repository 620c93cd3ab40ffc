// WAV in and out through libsndfile; sample-rate conversion through libsamplerate (both opened
// on first use: twilio/audio_libraries.h).
#include "twilio/audio_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "twilio/audio_libraries.h"
#include "twilio/mulaw.h"

namespace callproxy::twilio {
namespace {

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sndfile().value()->close(f); }  // opened, so loaded
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

constexpr int twilio_rate = 8000;

// libsndfile reading from a byte span.
struct MemoryFile {
  std::span<const std::uint8_t> bytes;
  sf_count_t position = 0;

  static sf_count_t length(void* self) { return static_cast<sf_count_t>(static_cast<MemoryFile*>(self)->bytes.size()); }
  static sf_count_t seek(sf_count_t offset, int whence, void* self) {
    auto* f = static_cast<MemoryFile*>(self);
    const sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? f->position : length(self);
    f->position = std::clamp<sf_count_t>(base + offset, 0, length(self));
    return f->position;
  }
  static sf_count_t read(void* out, sf_count_t count, void* self) {
    auto* f = static_cast<MemoryFile*>(self);
    const auto n = std::min(count, length(self) - f->position);
    std::memcpy(out, f->bytes.data() + f->position, static_cast<std::size_t>(n));
    f->position += n;
    return n;
  }
  static sf_count_t write(const void*, sf_count_t, void*) { return 0; }
  static sf_count_t tell(void* self) { return static_cast<MemoryFile*>(self)->position; }
};

Result<std::vector<std::uint8_t>> decode(SndfilePtr file, SF_INFO info, const std::string& path);

}  // namespace

Result<std::vector<std::uint8_t>> read_call_audio(const std::string& path) {
  const auto sf = sndfile();
  if (!sf) return Error{"cannot read '" + path + "': " + sf.error()};
  SF_INFO info{};
  SndfilePtr file(sf.value()->open(path.c_str(), SFM_READ, &info));
  if (!file) return Error{"cannot read '" + path + "': " + sf.value()->strerror(nullptr)};
  return decode(std::move(file), info, path);
}

Result<std::vector<std::uint8_t>> read_call_audio(std::span<const std::uint8_t> wav_bytes, const std::string& name) {
  const auto sf = sndfile();
  if (!sf) return Error{"cannot read '" + name + "': " + sf.error()};
  MemoryFile memory{wav_bytes};
  SF_VIRTUAL_IO io{&MemoryFile::length, &MemoryFile::seek, &MemoryFile::read, &MemoryFile::write, &MemoryFile::tell};
  SF_INFO info{};
  SndfilePtr file(sf.value()->open_virtual(&io, SFM_READ, &info, &memory));
  if (!file) return Error{"cannot read '" + name + "': " + sf.value()->strerror(nullptr)};
  return decode(std::move(file), info, name);
}

namespace {

Result<std::vector<std::uint8_t>> decode(SndfilePtr file, SF_INFO info, const std::string& path) {
  if (info.frames <= 0 || info.channels <= 0 || info.samplerate <= 0) {
    return Error{"'" + path + "' holds no audio"};
  }
  if (info.frames > static_cast<sf_count_t>(info.samplerate) * 3600) {
    return Error{"'" + path + "' is longer than an hour"};
  }
  const int subtype = info.format & SF_FORMAT_SUBMASK;
  if (subtype == SF_FORMAT_ULAW && info.channels == 1 && info.samplerate == twilio_rate) {
    // Already what Twilio sends: the codes themselves, untouched.
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(info.frames));
    const auto n = sndfile().value()->read_raw(file.get(), codes.data(), static_cast<sf_count_t>(codes.size()));
    if (n <= 0) return Error{"cannot read audio from '" + path + "'"};
    codes.resize(static_cast<std::size_t>(n));
    return codes;
  }

  std::vector<float> interleaved(static_cast<std::size_t>(info.frames) * static_cast<std::size_t>(info.channels));
  const auto frames = sndfile().value()->readf_float(file.get(), interleaved.data(), info.frames);
  if (frames <= 0) return Error{"cannot read audio from '" + path + "'"};
  std::vector<float> mono(static_cast<std::size_t>(frames));
  for (sf_count_t i = 0; i < frames; ++i) {
    float sum = 0;
    for (int c = 0; c < info.channels; ++c) sum += interleaved[static_cast<std::size_t>(i * info.channels + c)];
    mono[static_cast<std::size_t>(i)] = sum / static_cast<float>(info.channels);
  }

  std::vector<float> resampled;
  if (info.samplerate == twilio_rate) {
    resampled = std::move(mono);
  } else {
    const double ratio = static_cast<double>(twilio_rate) / info.samplerate;
    resampled.resize(static_cast<std::size_t>(std::ceil(static_cast<double>(mono.size()) * ratio)) + 16);
    const auto src = samplerate();
    if (!src) return Error{"cannot resample '" + path + "': " + src.error()};
    SRC_DATA data{};
    data.data_in = mono.data();
    data.input_frames = static_cast<long>(mono.size());
    data.data_out = resampled.data();
    data.output_frames = static_cast<long>(resampled.size());
    data.src_ratio = ratio;
    if (const int err = src.value()->simple(&data, SRC_SINC_BEST_QUALITY, 1); err != 0) {
      return Error{"cannot resample '" + path + "': " + src.value()->strerror(err)};
    }
    resampled.resize(static_cast<std::size_t>(data.output_frames_gen));
  }

  // A few samples at a high rate may resample to none: that is no audio to play either.
  if (resampled.empty()) return Error{"'" + path + "' holds no audio (too short to make one 8 kHz sample)"};
  std::vector<std::uint8_t> codes(resampled.size());
  for (std::size_t i = 0; i < resampled.size(); ++i) {
    // libsndfile normalises 16-bit PCM by 1/32768: scaling back by 32768 keeps it exact.
    const long sample = std::lrint(static_cast<double>(resampled[i]) * 32768.0);
    codes[i] = mulaw_encode(static_cast<std::int16_t>(std::clamp(sample, -32768L, 32767L)));
  }
  return codes;
}

}  // namespace

Result<bool> write_mulaw_wav(const std::string& path, std::span<const std::uint8_t> mulaw) {
  const auto sf = sndfile();
  if (!sf) return Error{"cannot write '" + path + "': " + sf.error()};
  SF_INFO info{};
  info.samplerate = twilio_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_ULAW;
  SndfilePtr file(sf.value()->open(path.c_str(), SFM_WRITE, &info));
  if (!file) return Error{"cannot write '" + path + "': " + sf.value()->strerror(nullptr)};
  if (!mulaw.empty() && sf.value()->write_raw(file.get(), mulaw.data(), static_cast<sf_count_t>(mulaw.size())) !=
                            static_cast<sf_count_t>(mulaw.size())) {
    return Error{"cannot write '" + path + "': " + sf.value()->strerror(file.get())};
  }
  return true;
}

}  // namespace callproxy::twilio
