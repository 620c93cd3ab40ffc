// Text as a line of the text log may hold it. A log message can carry what a peer chose (a
// streamSid, a CallSid, a path, an error's text): a newline in it would write a line of the
// peer's choosing, and an ESC or C1 sequence would move a reader's cursor or recolour their
// terminal. So every byte a terminal or a line reader acts on is written as an escape the reader
// sees: \n \r \t \e, a backslash as \\ (so that an escape is never ambiguous), any other C0
// control, DEL, a C1 control (U+0080..U+009F) or a byte that is not part of well-formed UTF-8 as
// \xHH, byte by byte. Well-formed UTF-8 otherwise passes as it is. (The JSON log format escapes
// through JSON itself.)
#pragma once

#include <string>
#include <string_view>

namespace callproxy {

// How many bytes at the start of `text` go into a text log line as they are: text.size() when
// the whole of it does.
std::size_t log_safe_prefix(std::string_view text) noexcept;

// `text` with every byte that a text log line may not hold as it is escaped.
std::string log_escaped(std::string_view text);

}  // namespace callproxy
