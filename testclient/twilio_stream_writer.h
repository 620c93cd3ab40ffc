// The messages Twilio sends for one call, in order and with Twilio's counters: sequenceNumber
// across all messages, chunk and timestamp (ms) across media frames.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <string>

namespace callproxy::testclient {

struct CallIdentity {
  std::string account_sid;  // AC + 32 hex
  std::string call_sid;     // CA + 32 hex
  std::string stream_sid;   // MZ + 32 hex
};

// Fresh ids shaped like Twilio's.
CallIdentity make_call_identity(std::mt19937_64& random);
// A Studio execution's SID: FN + 32 hex.
std::string make_execution_sid(std::mt19937_64& random);

class TwilioStreamWriter {
 public:
  static constexpr std::size_t frame_bytes = 160;  // 20 ms of 8 kHz mu-law
  static constexpr int frame_ms = 20;

  TwilioStreamWriter(CallIdentity identity, std::map<std::string, std::string> custom_parameters);

  const CallIdentity& identity() const { return identity_; }
  const std::map<std::string, std::string>& custom_parameters() const { return custom_parameters_; }

  std::string connected() const;
  std::string start();
  // One media message; `frame` is mu-law bytes (normally frame_bytes of them).
  std::string media(std::span<const std::uint8_t> frame);
  std::string dtmf(char digit);
  // Twilio's echo of a mark the server sent, once the audio before it has played.
  std::string mark(const std::string& name);
  std::string stop();

  std::uint64_t frames_written() const { return chunk_; }

 private:
  std::string next_sequence();

  CallIdentity identity_;
  std::map<std::string, std::string> custom_parameters_;
  std::uint64_t sequence_ = 0;
  std::uint64_t chunk_ = 0;
};

}  // namespace callproxy::testclient
