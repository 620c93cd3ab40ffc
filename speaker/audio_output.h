// Where a speaker's mix goes: a PortAudio device (which paces playback), a WAV file, or nowhere.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"

namespace callproxy::speaker {

class AudioSink {
 public:
  virtual ~AudioSink() = default;
  virtual void write(std::span<const std::int16_t> samples) = 0;
  // Lets what was written finish playing (a device's buffered tail), then stops.
  virtual void finish() {}
  // True when write() blocks at the playback rate (a device); otherwise the caller paces.
  virtual bool paces() const { return false; }
};

struct AudioDevice {
  int index;
  std::string name;
  std::string host_api;
  int max_output_channels;
  bool is_default;
};

// PortAudio's output devices (PortAudio's own ALSA probing noise is kept off stderr).
Result<std::vector<AudioDevice>> list_output_devices();

// Opens a device by index or (part of its) name; empty selects the default output. Fails with a
// message that says what to do when there is no device.
Result<std::unique_ptr<AudioSink>> open_portaudio_sink(const std::string& device, int sample_rate);

// A 16-bit PCM WAV file whose header is kept valid after every write (it survives any stop).
Result<std::unique_ptr<AudioSink>> open_wav_sink(const std::string& path, int sample_rate);

}  // namespace callproxy::speaker
