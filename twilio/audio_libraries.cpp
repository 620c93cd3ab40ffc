#include "twilio/audio_libraries.h"

#include "core/shared_library.h"

namespace callproxy::twilio {
namespace {

Result<Sndfile> load_sndfile() {
  auto lib = SharedLibrary::open("libsndfile.so.1", "libsndfile1");
  if (!lib) return Error{lib.error()};
  auto& l = lib.value();
  Sndfile s{};
  if (!l.bind(s.open, "sf_open") || !l.bind(s.open_virtual, "sf_open_virtual") || !l.bind(s.close, "sf_close") ||
      !l.bind(s.strerror, "sf_strerror") || !l.bind(s.command, "sf_command") || !l.bind(s.read_raw, "sf_read_raw") ||
      !l.bind(s.readf_float, "sf_readf_float") || !l.bind(s.write_raw, "sf_write_raw") ||
      !l.bind(s.write_short, "sf_write_short")) {
    return Error{l.error()};
  }
  return s;
}

Result<Samplerate> load_samplerate() {
  auto lib = SharedLibrary::open("libsamplerate.so.0", "libsamplerate0");
  if (!lib) return Error{lib.error()};
  auto& l = lib.value();
  Samplerate s{};
  if (!l.bind(s.simple, "src_simple") || !l.bind(s.strerror, "src_strerror")) return Error{l.error()};
  return s;
}

template <class T>
Result<const T*> pointer_to(const Result<T>& loaded) {
  if (!loaded) return Error{loaded.error()};
  return &loaded.value();
}

}  // namespace

Result<const Sndfile*> sndfile() {
  static const Result<Sndfile> loaded = load_sndfile();
  return pointer_to(loaded);
}

Result<const Samplerate*> samplerate() {
  static const Result<Samplerate> loaded = load_samplerate();
  return pointer_to(loaded);
}

}  // namespace callproxy::twilio
