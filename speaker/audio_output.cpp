#include "speaker/audio_output.h"

#include <fcntl.h>
#include <portaudio.h>
#include <sndfile.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

namespace callproxy::speaker {
namespace {

// PortAudio initialisation, once per process, with ALSA's and JACK's probe messages (printed
// on stderr even when everything works) silenced.
class PortAudioLibrary {
 public:
  static Result<bool> ensure() {
    static PortAudioLibrary library;
    if (library.error_ != paNoError) {
      return Error{std::string("PortAudio cannot start: ") + Pa_GetErrorText(library.error_)};
    }
    return true;
  }

 private:
  PortAudioLibrary() {
    const int saved = ::dup(STDERR_FILENO);
    const int null = ::open("/dev/null", O_WRONLY);
    if (saved >= 0 && null >= 0) ::dup2(null, STDERR_FILENO);
    error_ = Pa_Initialize();
    if (saved >= 0) {
      ::dup2(saved, STDERR_FILENO);
      ::close(saved);
    }
    if (null >= 0) ::close(null);
  }
  // No Pa_Terminate at exit: it unloads ALSA's plugins, which leak a little each time they are
  // loaded; left loaded, the process ends a moment later anyway and leak checkers can name them.
  PaError error_ = paNoError;
};

class PortAudioSink final : public AudioSink {
 public:
  PortAudioSink(PaStream* stream, double latency, int rate) : stream_(stream), latency_(latency), rate_(rate) {}
  ~PortAudioSink() override {
    finish();
    Pa_CloseStream(stream_);
  }
  void write(std::span<const std::int16_t> samples) override {
    // Underflow reports are harmless here: the device plays silence until we catch up.
    Pa_WriteStream(stream_, samples.data(), static_cast<unsigned long>(samples.size()));
  }
  void finish() override {
    if (finished_) return;
    finished_ = true;
    // Pa_StopStream drops what the device still buffers: push that much silence first so the
    // last real samples play out.
    const auto tail = static_cast<std::size_t>((latency_ + 0.1) * rate_);
    const std::vector<std::int16_t> silence(tail, 0);
    Pa_WriteStream(stream_, silence.data(), static_cast<unsigned long>(silence.size()));
    Pa_StopStream(stream_);
  }
  bool paces() const override { return true; }

 private:
  PaStream* stream_;
  double latency_;
  int rate_;
  bool finished_ = false;
};

class WavSink final : public AudioSink {
 public:
  explicit WavSink(SNDFILE* file) : file_(file) {}
  ~WavSink() override { sf_close(file_); }
  void write(std::span<const std::int16_t> samples) override {
    sf_write_short(file_, samples.data(), static_cast<sf_count_t>(samples.size()));
  }

 private:
  SNDFILE* file_;
};

}  // namespace

Result<std::vector<AudioDevice>> list_output_devices() {
  if (auto ok = PortAudioLibrary::ensure(); !ok) return Error{ok.error()};
  std::vector<AudioDevice> devices;
  const int count = Pa_GetDeviceCount();
  const int default_output = Pa_GetDefaultOutputDevice();
  for (int i = 0; i < count; ++i) {
    const auto* info = Pa_GetDeviceInfo(i);
    if (!info || info->maxOutputChannels <= 0) continue;
    const auto* api = Pa_GetHostApiInfo(info->hostApi);
    devices.push_back({i, info->name, api ? api->name : "?", info->maxOutputChannels, i == default_output});
  }
  return devices;
}

Result<std::unique_ptr<AudioSink>> open_portaudio_sink(const std::string& device, int sample_rate) {
  auto devices = list_output_devices();
  if (!devices) return Error{devices.error()};
  const auto no_device = [&](const std::string& what) {
    return Error{what + " (PortAudio sees " + std::to_string(devices.value().size()) +
                 " output device(s)). Use --output wav --wav-out FILE to write the audio to a file, "
                 "or --list-devices to see what there is."};
  };
  int index = -1;
  if (device.empty()) {
    index = Pa_GetDefaultOutputDevice();
    if (index == paNoDevice) return no_device("no audio output device found");
  } else {
    for (const auto& d : devices.value()) {
      if (std::to_string(d.index) == device || d.name.find(device) != std::string::npos) {
        index = d.index;
        break;
      }
    }
    if (index < 0) return no_device("no output device matches '" + device + "'");
  }
  const auto* info = Pa_GetDeviceInfo(index);
  PaStreamParameters params{};
  params.device = index;
  params.channelCount = 1;
  params.sampleFormat = paInt16;
  params.suggestedLatency = info->defaultHighOutputLatency;
  PaStream* stream = nullptr;
  PaError err = Pa_OpenStream(&stream, nullptr, &params, sample_rate, 160, paClipOff, nullptr, nullptr);
  if (err != paNoError) {
    return Error{std::string("cannot open '") + info->name + "' for " + std::to_string(sample_rate) +
                 " Hz mono: " + Pa_GetErrorText(err) + ". Try --output wav --wav-out FILE."};
  }
  err = Pa_StartStream(stream);
  if (err != paNoError) {
    Pa_CloseStream(stream);
    return Error{std::string("cannot start '") + info->name + "': " + Pa_GetErrorText(err)};
  }
  const auto* stream_info = Pa_GetStreamInfo(stream);
  const double latency = stream_info ? stream_info->outputLatency : params.suggestedLatency;
  return std::unique_ptr<AudioSink>(std::make_unique<PortAudioSink>(stream, latency, sample_rate));
}

Result<std::unique_ptr<AudioSink>> open_wav_sink(const std::string& path, int sample_rate) {
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  if (!file) return Error{"cannot write '" + path + "': " + sf_strerror(nullptr)};
  // The header is rewritten after every write: the file is valid whenever the process stops.
  sf_command(file, SFC_SET_UPDATE_HEADER_AUTO, nullptr, SF_TRUE);
  return std::unique_ptr<AudioSink>(std::make_unique<WavSink>(file));
}

}  // namespace callproxy::speaker
