// Reading a file a setting names (the pins file, the config file, certificates, keys and CA
// files, the SQLite store) so that whatever the name points at cannot hang or exhaust serve: a
// FIFO without a writer would block the open (at start-up, or on the loop that reloads it), a
// character device such as /dev/zero would be read without end. The file is opened without
// blocking (O_NONBLOCK), then the opened descriptor is checked (fstat: what is checked is what is
// read, with no window between a check and an open), symlinks followed; anything but a regular
// file is refused, saying what it is, and no more than a stated number of bytes is read.
#pragma once

#include <cstddef>
#include <string>

#include "core/result.h"

namespace callproxy {

// The whole file, at most `max_bytes` of it. The error says what is wrong with the file without
// naming it ("is a FIFO, not a regular file", "is 20971520 bytes, over the limit of 16 MiB",
// "cannot be opened: No such file or directory"): the caller names the setting and the path.
Result<std::string> read_regular_file(const std::string& path, std::size_t max_bytes);

// "" when `path` names a regular file (after symlinks) or nothing at all, else what it is, as
// read_regular_file says it. For files another library opens itself (SQLite): it opens its file
// without blocking on a FIFO, and this refuses the rest before it touches them.
std::string not_regular_file(const std::string& path);

// "16 MiB", "512 KiB", "100 bytes": a limit as the messages state it.
std::string size_text(std::size_t bytes);

}  // namespace callproxy
