// The bundled sample call (assets/sample-call-ulaw.wav), compiled into the binary.
#pragma once

#include <cstdint>
#include <span>

namespace callproxy::assets {

// The WAV file's bytes: 8 kHz mono G.711 mu-law, a few seconds of speech.
std::span<const std::uint8_t> sample_call_wav();

}  // namespace callproxy::assets
