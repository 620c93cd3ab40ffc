#include "proxy/media/recording.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "core/json_text.h"
#include "core/log_limit.h"

namespace callproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;

// Frames gathered on the loop before they go to the writer: a second's worth (the most a kill
// -9 can lose).
constexpr std::size_t frames_per_chunk = 50;

bool is_sid(std::string_view s) {
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

// What the sidecar says of a recording; filled on the loop, written by the writer.
struct Summary {
  std::string call_sid, stream_sid, shape, tracks;
  std::string started_at;  // ISO 8601, UTC
  std::uint64_t frames = 0, frames_dropped = 0;
  std::uint64_t silent_frames[2] = {0, 0};  // the caller's (or the mix) and the primary's
};

std::string iso_now() {
  const auto now = std::chrono::system_clock::now();
  const auto t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03}Z", text, ms);
}

void put_le(std::uint8_t* at, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) at[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace

// A recording, on the writer thread only (but for its creation).
struct Recording {
  ~Recording() {
    if (fd >= 0) ::close(fd);  // a recording never finished (serve stopped with its call live)
  }
  std::string stem;
  std::string stream_sid;  // a second stream of the call is named <stem>-<stream SID>
  audio::AudioShape shape;
  std::string call_label;
  std::string path;  // once opened
  int fd = -1;
  bool failed = false;  // could not be opened or written: what comes is dropped
  std::uint64_t data_bytes = 0;
  std::uint64_t dropped_frames = 0;  // by the writer: after a failure

  std::size_t header_bytes() const { return shape.codec == audio::Codec::mulaw ? 46 : 44; }

  // RIFF/WAVE, PCM (1) or mu-law (7, with an 18-byte fmt), sizes as of `data_bytes`.
  std::vector<std::uint8_t> header() const {
    const bool mulaw = shape.codec == audio::Codec::mulaw;
    const std::uint32_t fmt_size = mulaw ? 18 : 16;
    const std::uint32_t channels = static_cast<std::uint32_t>(shape.channels());
    const std::uint32_t bits = mulaw ? 8 : 16;
    const std::uint32_t block = channels * bits / 8;
    std::vector<std::uint8_t> h(header_bytes(), 0);
    std::memcpy(h.data(), "RIFF", 4);
    // RIFF sizes are 32-bit: past 4 GiB (12 h of 24 kHz stereo) they say the most they can.
    const auto clamp = [](std::uint64_t v) {
      return static_cast<std::uint32_t>(std::min<std::uint64_t>(v, 0xFFFFFFFFu));
    };
    put_le(&h[4], clamp(4 + 8 + fmt_size + 8 + data_bytes), 4);
    std::memcpy(&h[8], "WAVEfmt ", 8);
    put_le(&h[16], fmt_size, 4);
    put_le(&h[20], mulaw ? 7 : 1, 2);
    put_le(&h[22], channels, 2);
    put_le(&h[24], static_cast<std::uint32_t>(shape.rate), 4);
    put_le(&h[28], static_cast<std::uint32_t>(shape.rate) * block, 4);
    put_le(&h[32], block, 2);
    put_le(&h[34], bits, 2);
    const std::size_t data_at = 20 + fmt_size;  // (an 18-byte fmt ends with cbSize 0)
    std::memcpy(&h[data_at], "data", 4);
    put_le(&h[data_at + 4], clamp(data_bytes), 4);
    return h;
  }
};

struct RecordingWriter::Impl {
  struct Job {
    std::shared_ptr<Recording> recording;
    std::vector<std::uint8_t> bytes;
    std::optional<Summary> finish;  // the last job of a recording
  };

  Impl(std::string d, Metrics& m) : dir(std::move(d)), metrics(m) {}

  // False when the queue is full: the caller drops the bytes (and counts them).
  bool post(Job job) {
    std::lock_guard lock(mutex);
    if (!job.finish && queued + job.bytes.size() > max_queued_bytes) return false;
    queued += job.bytes.size();
    jobs.push_back(std::move(job));
    changed.notify_all();
    return true;
  }

  void run() {
    std::unique_lock lock(mutex);
    while (true) {
      changed.wait(lock, [&] { return stopping || !jobs.empty(); });
      if (jobs.empty()) return;  // stopping, and everything written
      auto job = std::move(jobs.front());
      jobs.pop_front();
      busy = true;
      lock.unlock();
      write(job);
      lock.lock();
      queued -= job.bytes.size();
      busy = false;
      changed.notify_all();
    }
  }

  void fail(Recording& r, const std::string& what) {
    r.failed = true;
    metrics.recording_errors.add();
    if (const auto suppressed = errors_logged.allow(Clock::now(), std::chrono::seconds(10))) {
      spdlog::error("call {}: recording {}: {}: the call goes on without it{}", r.call_label, r.stem, what,
                    *suppressed ? fmt::format(" ({} more like it since the last line)", *suppressed) : "");
    }
  }

  bool open(Recording& r) {
    // The call's SID first; a second stream of the same call adds its stream's SID.
    std::vector<std::string> names{r.stem};
    if (is_sid(r.stream_sid) && r.stream_sid != r.stem) names.push_back(r.stem + "-" + r.stream_sid);
    for (int n = 2; n < 100; ++n) names.push_back(r.stem + "-" + std::to_string(n));
    for (const auto& name : names) {
      const auto path = dir + "/" + name + ".wav";
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) {
        r.fd = fd;
        r.path = path;
        r.stem = name;
        const auto h = r.header();
        if (::write(fd, h.data(), h.size()) != static_cast<ssize_t>(h.size())) {
          fail(r, std::string("cannot write ") + path + ": " + std::strerror(errno));
          ::close(fd);
          r.fd = -1;
          return false;
        }
        return true;
      }
      if (errno != EEXIST) {
        fail(r, "cannot create " + path + ": " + std::strerror(errno));
        return false;
      }
    }
    fail(r, "too many recordings named " + r.stem + " in " + dir);
    return false;
  }

  void write(Job& job) {
    auto& r = *job.recording;
    if (!r.failed && r.fd < 0 && !job.bytes.empty() && !open(r)) {
      r.dropped_frames += job.bytes.size() / std::max<std::size_t>(1, r.shape.frame_bytes());
    } else if (r.failed) {
      r.dropped_frames += job.bytes.size() / std::max<std::size_t>(1, r.shape.frame_bytes());
    } else if (!job.bytes.empty()) {
      const auto n = ::write(r.fd, job.bytes.data(), job.bytes.size());
      if (n != static_cast<ssize_t>(job.bytes.size())) {
        const auto why = n < 0 ? std::string(std::strerror(errno)) : "short write (disk full?)";
        fail(r, "cannot write " + r.path + ": " + why);
        r.dropped_frames += job.bytes.size() / std::max<std::size_t>(1, r.shape.frame_bytes());
        if (n > 0) r.data_bytes += static_cast<std::uint64_t>(n);
      } else {
        r.data_bytes += job.bytes.size();
        metrics.recording_bytes.add(job.bytes.size());
      }
      // The header follows the data: a file cut here reads as what it holds.
      const auto h = r.header();
      if (::pwrite(r.fd, h.data(), h.size(), 0) != static_cast<ssize_t>(h.size()) && !r.failed) {
        fail(r, "cannot update " + r.path + ": " + std::strerror(errno));
      }
    }
    if (job.finish) finish(r, *job.finish);
  }

  void finish(Recording& r, const Summary& s) {
    if (r.fd < 0) return;  // never opened: nothing to describe
    ::close(r.fd);
    r.fd = -1;
    const double frame_seconds = 0.02;
    nlohmann::json sidecar{
        {"file", r.stem + ".wav"},
        {"callSid", s.call_sid},
        {"streamSid", s.stream_sid},
        {"startedAt", s.started_at},
        {"durationSeconds", static_cast<double>(r.data_bytes / r.shape.frame_bytes()) * frame_seconds},
        {"audio", s.shape},
        {"tracks", s.tracks},
        {"channels", r.shape.channels()},
        {"framesDropped", s.frames_dropped + r.dropped_frames},
        {"complete", !r.failed},
    };
    if (r.shape.tracks == audio::Tracks::mix) {
      sidecar["silenceSeconds"] = {{"mix", static_cast<double>(s.silent_frames[0]) * frame_seconds}};
    } else if (r.shape.tracks == audio::Tracks::stereo) {
      sidecar["silenceSeconds"] = {{"caller", static_cast<double>(s.silent_frames[0]) * frame_seconds},
                                   {"primary", static_cast<double>(s.silent_frames[1]) * frame_seconds}};
    } else {
      sidecar["silenceSeconds"] = {{"caller", static_cast<double>(s.silent_frames[0]) * frame_seconds}};
    }
    const auto text = dump_json(sidecar) + "\n";
    const auto final_path = dir + "/" + r.stem + ".json";
    const auto temporary = final_path + ".tmp";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const bool written = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    if (fd >= 0) ::close(fd);
    if (!written || ::rename(temporary.c_str(), final_path.c_str()) != 0) {
      ::unlink(temporary.c_str());
      fail(r, "cannot write " + final_path + ": " + std::strerror(errno));
    }
  }

  const std::string dir;
  Metrics& metrics;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Job> jobs;
  std::size_t queued = 0;
  bool busy = false;
  bool stopping = false;
  LogSlot errors_logged;  // the writer thread's only
  std::thread thread;
};

RecordingWriter::RecordingWriter(std::string dir, Metrics& metrics)
    : impl_(std::make_shared<Impl>(std::move(dir), metrics)) {
  impl_->thread = std::thread([impl = impl_] { impl->run(); });
}

RecordingWriter::~RecordingWriter() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
    impl_->changed.notify_all();
  }
  impl_->thread.join();
}

const std::string& RecordingWriter::dir() const { return impl_->dir; }

void RecordingWriter::flush() {
  std::unique_lock lock(impl_->mutex);
  impl_->changed.wait(lock, [&] { return impl_->jobs.empty() && !impl_->busy; });
}

namespace {

// The loop's side: frames gathered a second at a time and handed to the writer.
class RecorderLink : public BackendLink {
 public:
  RecorderLink(RecorderConfig config, std::shared_ptr<RecordingWriter::Impl> writer)
      : config_(std::move(config)), writer_(std::move(writer)), recording_(std::make_shared<Recording>()) {
    recording_->stem = recording_stem(config_.call_sid, config_.stream_sid);
    recording_->stream_sid = config_.stream_sid;
    recording_->shape = config_.target.shape;
    recording_->call_label = config_.call_label;
    summary_.call_sid = config_.call_sid;
    summary_.stream_sid = config_.stream_sid;
    summary_.shape = config_.target.shape.audio_name();
    summary_.tracks = std::string(config_.target.shape.tracks_name());
    summary_.started_at = iso_now();
    config_.metrics->recordings_started.add();
    spdlog::info("call {}: recording {} ({}) in {}", config_.call_label, recording_->stem,
                 config_.target.shape.describe(), writer_->dir);
  }

  // A call destroyed without ending (serve stopping past its drain deadline) still gets its last
  // second and its sidecar: the writer outlives the loops and writes what is queued.
  ~RecorderLink() override { finish(); }
  RecorderLink(const RecorderLink&) = delete;
  RecorderLink& operator=(const RecorderLink&) = delete;

  const BackendTarget& target() const override { return config_.target; }
  bool closed() const override { return finished_; }

  void send(const OutboundFrame& frame) override {
    if (finished_ || !frame.binary) return;  // the start, dtmf, stop: a file has no use for them
    const auto& bytes = frame.text.text();
    count_silence(bytes);
    chunk_.insert(chunk_.end(), bytes.begin(), bytes.end());
    ++summary_.frames;
    if (++chunk_frames_ == frames_per_chunk) hand_over();
  }

  void finish() override {
    if (finished_) return;
    finished_ = true;
    const auto frames = chunk_frames_;
    auto job = RecordingWriter::Impl::Job{recording_, std::move(chunk_), std::nullopt};
    chunk_frames_ = 0;
    job.finish = summary_;
    if (!writer_->post(std::move(job))) {  // never: a finish is always taken
      summary_.frames_dropped += frames;
    }
  }

 private:
  void hand_over() {
    const auto frames = chunk_frames_;
    chunk_frames_ = 0;
    if (!writer_->post(RecordingWriter::Impl::Job{recording_, std::move(chunk_), std::nullopt})) {
      summary_.frames_dropped += frames;
      config_.metrics->recording_frames_dropped.add(frames);
    }
    chunk_ = {};
    chunk_.reserve(config_.target.shape.frame_bytes() * frames_per_chunk);
  }

  // Each side's silence (digital silence, all of a 20 ms frame): 0 in PCM, 0xFF or 0x7F in mu-law.
  void count_silence(const std::string& bytes) {
    const auto& shape = config_.target.shape;
    if (shape.codec == audio::Codec::mulaw) {
      const bool quiet = std::all_of(bytes.begin(), bytes.end(), [](char c) {
        const auto b = static_cast<unsigned char>(c);
        return b == 0xFF || b == 0x7F;
      });
      summary_.silent_frames[0] += quiet ? 1 : 0;
      return;
    }
    const std::size_t stride = static_cast<std::size_t>(shape.channels()) * 2;
    for (int channel = 0; channel < shape.channels(); ++channel) {
      bool quiet = true;
      for (std::size_t i = static_cast<std::size_t>(channel) * 2; i + 1 < bytes.size() && quiet; i += stride) {
        quiet = bytes[i] == 0 && bytes[i + 1] == 0;
      }
      summary_.silent_frames[channel] += quiet ? 1 : 0;
    }
  }

  RecorderConfig config_;
  std::shared_ptr<RecordingWriter::Impl> writer_;
  std::shared_ptr<Recording> recording_;
  Summary summary_;
  std::vector<std::uint8_t> chunk_;
  std::size_t chunk_frames_ = 0;
  bool finished_ = false;
};

}  // namespace

std::shared_ptr<BackendLink> start_recorder_link(RecorderConfig config) {
  auto writer = config.writer->impl_;
  return std::make_shared<RecorderLink>(std::move(config), std::move(writer));
}

Result<bool> prepare_record_dir(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return true;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{"--record-dir " + dir + ": cannot create it: " + ec.message()};
  if (::chmod(dir.c_str(), 0700) != 0) {
    return Error{"--record-dir " + dir + ": cannot make it 0700: " + std::strerror(errno)};
  }
  return true;
}

std::string recording_stem(std::string_view call_sid, std::string_view stream_sid) {
  if (is_sid(call_sid)) return std::string(call_sid);
  if (is_sid(stream_sid)) return std::string(stream_sid);
  return "call";
}

}  // namespace callproxy::proxy
