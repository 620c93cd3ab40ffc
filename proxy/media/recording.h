// The built-in recorder: a `record:` backend entry (docs/serve.md, "Recording calls") writes the
// call's audio, in the entry's shape, as a WAV file under --record-dir named by the call's SID.
// It is a backend like the others (a BackendLink fed the shape's raw frames), but its bytes go to
// a file through one writer thread per server: disk I/O never runs on an event loop, so a slow
// or full disk holds up no call and no other backend.
//
// Written as the call goes: every second the audio so far is appended and the WAV header's sizes
// are rewritten, so a crash or kill -9 leaves a readable file holding all but the last second.
// At the end a sidecar `<name>.json` (call and stream SIDs, start, duration, frames dropped, each
// side's silence) is written, last and by rename: a watcher that sees it can take both files.
// Files are 0600, the folder 0700. A file that cannot be opened or written is logged (limited),
// counted (callproxy_recording_errors_total), and the call goes on.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "proxy/media/backend_link.h"
#include "proxy/metrics/metrics.h"

namespace callproxy::proxy {

class RecordingWriter {
 public:
  // Audio waiting for the disk, every call together: past it a second of audio is dropped (and
  // counted in that recording's sidecar and callproxy_recording_frames_dropped_total).
  static constexpr std::size_t max_queued_bytes = 16 * 1024 * 1024;

  // `dir` must exist (prepare_record_dir). The thread starts here.
  RecordingWriter(std::string dir, Metrics& metrics);
  // Writes what is queued (finishing every recording), then joins the thread.
  ~RecordingWriter();
  RecordingWriter(const RecordingWriter&) = delete;
  RecordingWriter& operator=(const RecordingWriter&) = delete;

  const std::string& dir() const;
  // Waits until everything queued so far is on disk (tests, and serve's drain).
  void flush();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  friend std::shared_ptr<BackendLink> start_recorder_link(struct RecorderConfig config);
};

struct RecorderConfig {
  BackendTarget target;    // record: with its shape (binary frames of it)
  std::string call_label;  // for log lines
  std::string call_sid, stream_sid;
  RecordingWriter* writer = nullptr;
  Metrics* metrics = nullptr;  // the call's loop's shard
};

std::shared_ptr<BackendLink> start_recorder_link(RecorderConfig config);

// Makes `dir` (and its parents) with mode 0700 if it is missing; why not, when it cannot. An
// existing folder is left as it is (its mode the operator's).
Result<bool> prepare_record_dir(const std::string& dir);

// A recording's file name without extension: the call's SID when it is one (letters and digits,
// 1-64 of them: nothing from the wire becomes a path otherwise), else the stream's, else "call".
std::string recording_stem(std::string_view call_sid, std::string_view stream_sid);

}  // namespace callproxy::proxy
