// Audio files as Twilio's media uses them: 8 kHz mono G.711 mu-law. Reading accepts any WAV
// libsndfile reads (PCM, float, mu-law, A-law; any rate; any channel count) and converts it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"

namespace callproxy::twilio {

// The file as 8 kHz mono mu-law bytes. A mu-law 8 kHz mono file is returned byte for byte;
// anything else is mixed down to mono, resampled (libsamplerate, best quality) and encoded.
Result<std::vector<std::uint8_t>> read_call_audio(const std::string& path);
// The same from a WAV file's bytes in memory (the sample call built into the binary).
Result<std::vector<std::uint8_t>> read_call_audio(std::span<const std::uint8_t> wav_bytes, const std::string& name);

// Writes mu-law bytes as an 8 kHz mono mu-law WAV file.
Result<bool> write_mulaw_wav(const std::string& path, std::span<const std::uint8_t> mulaw);

}  // namespace callproxy::twilio
