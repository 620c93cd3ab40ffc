// A system library opened at run time (dlopen) instead of linked: what only some subcommands
// use (the audio stack: PortAudio, libsndfile, libsamplerate) is then never mapped by the others,
// so `serve` does not carry it in its resident memory. The library stays loaded for the rest of
// the process, as a linked one would.
#pragma once

#include <string>

#include "core/result.h"

namespace callproxy {

class SharedLibrary {
 public:
  // `soname` as the dynamic linker knows it ("libsndfile.so.1"); `package` names what installs
  // it, for the error: "libsndfile.so.1 cannot be loaded (install libsndfile1): <why>".
  static Result<SharedLibrary> open(const char* soname, const char* package);

  // The symbol `name` as `fn` (a function pointer); false, with error() saying which, when absent.
  template <class F>
  bool bind(F& fn, const char* name) {
    fn = reinterpret_cast<F>(address(name));
    return fn != nullptr;
  }
  // Why the last bind failed.
  const std::string& error() const { return error_; }

 private:
  SharedLibrary(void* handle, const char* soname) : handle_(handle), soname_(soname) {}
  void* address(const char* name);

  void* handle_;
  std::string soname_;
  std::string error_;
};

}  // namespace callproxy
