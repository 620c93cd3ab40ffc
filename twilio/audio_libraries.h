// libsndfile and libsamplerate, opened at run time on first use (core/shared_library.h): only
// the subcommands that read or write audio files map them, never `serve`. Each function is
// resolved once, with the type the library's own header declares.
#pragma once

#include <samplerate.h>
#include <sndfile.h>

#include "core/result.h"

namespace callproxy::twilio {

struct Sndfile {
  decltype(&::sf_open) open;
  decltype(&::sf_open_virtual) open_virtual;
  decltype(&::sf_close) close;
  decltype(&::sf_strerror) strerror;
  decltype(&::sf_command) command;
  decltype(&::sf_read_raw) read_raw;
  decltype(&::sf_readf_float) readf_float;
  decltype(&::sf_write_raw) write_raw;
  decltype(&::sf_write_short) write_short;
};

struct Samplerate {
  decltype(&::src_simple) simple;
  decltype(&::src_strerror) strerror;
};

// The loaded library, or why it cannot be loaded (the same answer for the whole process).
Result<const Sndfile*> sndfile();
Result<const Samplerate*> samplerate();

}  // namespace callproxy::twilio
