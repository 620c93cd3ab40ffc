#include "speaker/audio_output.h"

#include <fcntl.h>
#include <portaudio.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "core/shared_library.h"
#include "twilio/audio_libraries.h"

namespace callproxy::speaker {
namespace {

// PortAudio's functions, resolved at run time: libportaudio (and ALSA, JACK and the rest it
// links) is mapped only by a process that plays audio, never by `serve`.
struct PortAudio {
  decltype(&::Pa_Initialize) Initialize;
  decltype(&::Pa_GetErrorText) GetErrorText;
  decltype(&::Pa_GetDeviceCount) GetDeviceCount;
  decltype(&::Pa_GetDefaultOutputDevice) GetDefaultOutputDevice;
  decltype(&::Pa_GetDeviceInfo) GetDeviceInfo;
  decltype(&::Pa_GetHostApiInfo) GetHostApiInfo;
  decltype(&::Pa_OpenStream) OpenStream;
  decltype(&::Pa_StartStream) StartStream;
  decltype(&::Pa_GetStreamInfo) GetStreamInfo;
  decltype(&::Pa_WriteStream) WriteStream;
  decltype(&::Pa_StopStream) StopStream;
  decltype(&::Pa_CloseStream) CloseStream;
};

Result<PortAudio> load_portaudio() {
  auto lib = SharedLibrary::open("libportaudio.so.2", "libportaudio2");
  if (!lib) return Error{lib.error()};
  auto& l = lib.value();
  PortAudio p{};
  if (!l.bind(p.Initialize, "Pa_Initialize") || !l.bind(p.GetErrorText, "Pa_GetErrorText") ||
      !l.bind(p.GetDeviceCount, "Pa_GetDeviceCount") ||
      !l.bind(p.GetDefaultOutputDevice, "Pa_GetDefaultOutputDevice") || !l.bind(p.GetDeviceInfo, "Pa_GetDeviceInfo") ||
      !l.bind(p.GetHostApiInfo, "Pa_GetHostApiInfo") || !l.bind(p.OpenStream, "Pa_OpenStream") ||
      !l.bind(p.StartStream, "Pa_StartStream") || !l.bind(p.GetStreamInfo, "Pa_GetStreamInfo") ||
      !l.bind(p.WriteStream, "Pa_WriteStream") || !l.bind(p.StopStream, "Pa_StopStream") ||
      !l.bind(p.CloseStream, "Pa_CloseStream")) {
    return Error{l.error()};
  }
  return p;
}

// PortAudio loaded and initialised, once per process, with ALSA's and JACK's probe messages
// (printed on stderr even when everything works) silenced.
class PortAudioLibrary {
 public:
  static Result<const PortAudio*> ensure() {
    static PortAudioLibrary library;
    if (!library.api_) return Error{"PortAudio cannot be used: " + library.api_.error()};
    if (library.error_ != paNoError) {
      return Error{std::string("PortAudio cannot start: ") + library.api_.value().GetErrorText(library.error_)};
    }
    return &library.api_.value();
  }

 private:
  PortAudioLibrary() : api_(load_portaudio()) {
    if (!api_) return;
    const int saved = ::dup(STDERR_FILENO);
    const int null = ::open("/dev/null", O_WRONLY);
    if (saved >= 0 && null >= 0) ::dup2(null, STDERR_FILENO);
    error_ = api_.value().Initialize();
    if (saved >= 0) {
      ::dup2(saved, STDERR_FILENO);
      ::close(saved);
    }
    if (null >= 0) ::close(null);
  }
  // No Pa_Terminate at exit: it unloads ALSA's plugins, which leak a little each time they are
  // loaded; left loaded, the process ends a moment later anyway and leak checkers can name them.
  Result<PortAudio> api_;
  PaError error_ = paNoError;
};

class PortAudioSink final : public AudioSink {
 public:
  PortAudioSink(const PortAudio& pa, PaStream* stream, double latency, int rate)
      : pa_(pa), stream_(stream), latency_(latency), rate_(rate) {}
  ~PortAudioSink() override {
    finish();
    pa_.CloseStream(stream_);
  }
  void write(std::span<const std::int16_t> samples) override {
    // Underflow reports are harmless here: the device plays silence until we catch up.
    pa_.WriteStream(stream_, samples.data(), static_cast<unsigned long>(samples.size()));
  }
  void finish() override {
    if (finished_) return;
    finished_ = true;
    // Pa_StopStream drops what the device still buffers: push that much silence first so the
    // last real samples play out.
    const auto tail = static_cast<std::size_t>((latency_ + 0.1) * rate_);
    const std::vector<std::int16_t> silence(tail, 0);
    pa_.WriteStream(stream_, silence.data(), static_cast<unsigned long>(silence.size()));
    pa_.StopStream(stream_);
  }
  bool paces() const override { return true; }

 private:
  const PortAudio& pa_;
  PaStream* stream_;
  double latency_;
  int rate_;
  bool finished_ = false;
};

class WavSink final : public AudioSink {
 public:
  WavSink(const twilio::Sndfile& sf, SNDFILE* file) : sf_(sf), file_(file) {}
  ~WavSink() override { sf_.close(file_); }
  void write(std::span<const std::int16_t> samples) override {
    sf_.write_short(file_, samples.data(), static_cast<sf_count_t>(samples.size()));
  }

 private:
  const twilio::Sndfile& sf_;
  SNDFILE* file_;
};

}  // namespace

Result<std::vector<AudioDevice>> list_output_devices() {
  const auto loaded = PortAudioLibrary::ensure();
  if (!loaded) return Error{loaded.error()};
  const PortAudio& pa = *loaded.value();
  std::vector<AudioDevice> devices;
  const int count = pa.GetDeviceCount();
  const int default_output = pa.GetDefaultOutputDevice();
  for (int i = 0; i < count; ++i) {
    const auto* info = pa.GetDeviceInfo(i);
    if (!info || info->maxOutputChannels <= 0) continue;
    const auto* api = pa.GetHostApiInfo(info->hostApi);
    devices.push_back({i, info->name, api ? api->name : "?", info->maxOutputChannels, i == default_output});
  }
  return devices;
}

Result<std::unique_ptr<AudioSink>> open_portaudio_sink(const std::string& device, int sample_rate) {
  auto devices = list_output_devices();
  if (!devices) return Error{devices.error()};
  const PortAudio& pa = *PortAudioLibrary::ensure().value();  // listed, so loaded
  const auto no_device = [&](const std::string& what) {
    return Error{what + " (PortAudio sees " + std::to_string(devices.value().size()) +
                 " output device(s)). Use --output wav --wav-out FILE to write the audio to a file, "
                 "or --list-devices to see what there is."};
  };
  int index = -1;
  if (device.empty()) {
    index = pa.GetDefaultOutputDevice();
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
  const auto* info = pa.GetDeviceInfo(index);
  PaStreamParameters params{};
  params.device = index;
  params.channelCount = 1;
  params.sampleFormat = paInt16;
  params.suggestedLatency = info->defaultHighOutputLatency;
  PaStream* stream = nullptr;
  PaError err = pa.OpenStream(&stream, nullptr, &params, sample_rate, 160, paClipOff, nullptr, nullptr);
  if (err != paNoError) {
    return Error{std::string("cannot open '") + info->name + "' for " + std::to_string(sample_rate) +
                 " Hz mono: " + pa.GetErrorText(err) + ". Try --output wav --wav-out FILE."};
  }
  err = pa.StartStream(stream);
  if (err != paNoError) {
    pa.CloseStream(stream);
    return Error{std::string("cannot start '") + info->name + "': " + pa.GetErrorText(err)};
  }
  const auto* stream_info = pa.GetStreamInfo(stream);
  const double latency = stream_info ? stream_info->outputLatency : params.suggestedLatency;
  return std::unique_ptr<AudioSink>(std::make_unique<PortAudioSink>(pa, stream, latency, sample_rate));
}

Result<std::unique_ptr<AudioSink>> open_wav_sink(const std::string& path, int sample_rate) {
  const auto loaded = twilio::sndfile();
  if (!loaded) return Error{"cannot write '" + path + "': " + loaded.error()};
  const twilio::Sndfile& sf = *loaded.value();
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* file = sf.open(path.c_str(), SFM_WRITE, &info);
  if (!file) return Error{"cannot write '" + path + "': " + sf.strerror(nullptr)};
  // The header is rewritten after every write: the file is valid whenever the process stops.
  sf.command(file, SFC_SET_UPDATE_HEADER_AUTO, nullptr, SF_TRUE);
  return std::unique_ptr<AudioSink>(std::make_unique<WavSink>(sf, file));
}

}  // namespace callproxy::speaker
