#include "speaker/mixer.h"

#include <algorithm>
#include <utility>

namespace callproxy::speaker {

Mixer::Mixer(std::size_t prebuffer, std::size_t limit) : prebuffer_(prebuffer), limit_(std::max(limit, prebuffer)) {}

void Mixer::open(StreamId id, std::string name) {
  std::lock_guard lock(mutex_);
  auto& s = streams_[id];
  s.stats.name = std::move(name);
}

void Mixer::rename(StreamId id, std::string name) {
  std::lock_guard lock(mutex_);
  if (const auto it = streams_.find(id); it != streams_.end()) it->second.stats.name = std::move(name);
}

void Mixer::push(StreamId id, std::span<const std::int16_t> samples) {
  std::lock_guard lock(mutex_);
  const auto it = streams_.find(id);
  if (it == streams_.end() || it->second.closed) return;
  auto& s = it->second;
  s.stats.samples_received += samples.size();
  // Compact the FIFO when its consumed head dominates.
  if (s.read > 0 && s.read >= s.buffer.size() / 2) {
    s.buffer.erase(s.buffer.begin(), s.buffer.begin() + static_cast<std::ptrdiff_t>(s.read));
    s.read = 0;
  }
  s.buffer.insert(s.buffer.end(), samples.begin(), samples.end());
  if (s.available() > limit_) {
    const auto excess = s.available() - limit_;  // the oldest go: the stream stays current
    s.read += excess;
    s.stats.samples_dropped += excess;
  }
}

void Mixer::close(StreamId id) {
  std::lock_guard lock(mutex_);
  const auto it = streams_.find(id);
  if (it == streams_.end()) return;
  it->second.closed = true;
  if (it->second.available() > 0) it->second.playing = true;  // the tail plays without waiting
}

void Mixer::close_all() {
  std::lock_guard lock(mutex_);
  for (auto& [id, s] : streams_) {
    s.closed = true;
    if (s.available() > 0) s.playing = true;
  }
}

std::size_t Mixer::mix(std::span<std::int16_t> out) {
  std::lock_guard lock(mutex_);
  sum_.assign(out.size(), 0);
  std::size_t contributing = 0;
  for (auto it = streams_.begin(); it != streams_.end();) {
    auto& s = it->second;
    if (!s.playing && (s.available() >= prebuffer_ || (s.closed && s.available() > 0))) s.playing = true;
    if (s.playing) {
      const auto n = std::min(out.size(), s.available());
      for (std::size_t i = 0; i < n; ++i) sum_[i] += s.buffer[s.read + i];
      s.read += n;
      s.stats.samples_played += n;
      if (n > 0) ++contributing;
      if (n < out.size() && !s.closed) {
        // Ran dry: silence for the rest, and buffer up again before playing on.
        ++s.stats.underruns;
        s.playing = false;
      }
    }
    if (s.closed && s.available() == 0) {
      finished_.push_back(std::move(s.stats));
      it = streams_.erase(it);
    } else {
      ++it;
    }
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::int16_t>(std::clamp(sum_[i], -32768, 32767));
  }
  return contributing;
}

std::vector<StreamStats> Mixer::take_finished() {
  std::lock_guard lock(mutex_);
  return std::exchange(finished_, {});
}

bool Mixer::active() const {
  std::lock_guard lock(mutex_);
  return !streams_.empty();
}

}  // namespace callproxy::speaker
