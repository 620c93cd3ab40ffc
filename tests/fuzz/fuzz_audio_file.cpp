// Audio files client-test plays (--wav): any file libsndfile reads, converted to 8 kHz mono
// mu-law (twilio/audio_file.*). A file is refused with a message or read as audio no longer
// than its limit; what a header claims must not make the reader allocate beyond what the file
// holds.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_check.h"
#include "twilio/audio_file.h"

using namespace callproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 1024 * 1024) return -1;
  const auto audio = twilio::read_call_audio(std::span(data, size), "fuzz.wav");
  if (!audio) {
    fuzz::require(audio.error().find("'fuzz.wav'") != std::string::npos, "a refused file's error does not name it",
                  audio.error());
    return 0;
  }
  fuzz::require(!audio.value().empty(), "a file read as audio holds none");
  fuzz::require(audio.value().size() <= 8000u * 3600u, "a file read as more than an hour of audio");
  return 0;
}
