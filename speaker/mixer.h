// Mixes the concurrent streams a speaker receives into one 8 kHz output: a jitter buffer per
// stream (playback starts once enough is buffered, and again after an underrun), silence where a
// stream has nothing (never stale samples), saturation instead of wrap-around. Thread-safe: the
// network thread pushes, the output thread mixes.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace callproxy::speaker {

struct StreamStats {
  std::string name;  // the streamSid when known
  std::uint64_t samples_received = 0;
  std::uint64_t samples_played = 0;
  std::uint64_t underruns = 0;        // times a playing stream ran dry
  std::uint64_t samples_dropped = 0;  // beyond the buffer limit
};

class Mixer {
 public:
  using StreamId = std::uint64_t;

  // `prebuffer`: samples a stream gathers before it plays; `limit`: samples it may hold.
  explicit Mixer(std::size_t prebuffer = 1600, std::size_t limit = 8000 * 10);

  void open(StreamId id, std::string name = {});
  void rename(StreamId id, std::string name);
  void push(StreamId id, std::span<const std::int16_t> samples);
  // The stream ends: what it holds is still played, then it is finished.
  void close(StreamId id);
  void close_all();

  // The next out.size() samples of the mix. Returns how many streams contributed.
  std::size_t mix(std::span<std::int16_t> out);

  // Streams fully played since the last call, with their statistics.
  std::vector<StreamStats> take_finished();
  // True while any stream is open or still has audio to play.
  bool active() const;

 private:
  struct Stream {
    std::vector<std::int16_t> buffer;  // a FIFO: [read, buffer.size())
    std::size_t read = 0;
    bool playing = false;
    bool closed = false;
    StreamStats stats;
    std::size_t available() const { return buffer.size() - read; }
  };

  mutable std::mutex mutex_;
  std::map<StreamId, Stream> streams_;
  std::vector<StreamStats> finished_;
  std::vector<std::int32_t> sum_;
  std::size_t prebuffer_;
  std::size_t limit_;
};

}  // namespace callproxy::speaker
