#include "testclient/twilio_stream_writer.h"

#include "twilio/base64.h"
#include "twilio/media_message.h"

namespace callproxy::testclient {
namespace {

std::string sid(std::string_view prefix, std::mt19937_64& random) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(prefix);
  for (int i = 0; i < 32; ++i) out.push_back(digits[random() & 0x0F]);
  return out;
}

}  // namespace

std::string make_execution_sid(std::mt19937_64& random) { return sid("FN", random); }

CallIdentity make_call_identity(std::mt19937_64& random) {
  return CallIdentity{sid("AC", random), sid("CA", random), sid("MZ", random)};
}

TwilioStreamWriter::TwilioStreamWriter(CallIdentity identity, std::map<std::string, std::string> custom_parameters)
    : identity_(std::move(identity)), custom_parameters_(std::move(custom_parameters)) {}

std::string TwilioStreamWriter::next_sequence() { return std::to_string(++sequence_); }

std::string TwilioStreamWriter::connected() const {
  return twilio::serialize(twilio::TwilioMessage{twilio::ConnectedMessage{}});
}

std::string TwilioStreamWriter::start() {
  twilio::StartMessage m;
  m.sequence_number = next_sequence();
  m.stream_sid = identity_.stream_sid;
  m.account_sid = identity_.account_sid;
  m.call_sid = identity_.call_sid;
  m.tracks = {"inbound"};
  m.custom_parameters = custom_parameters_;
  return twilio::serialize(twilio::TwilioMessage{std::move(m)});
}

std::string TwilioStreamWriter::media(std::span<const std::uint8_t> frame) {
  twilio::MediaMessage m;
  m.sequence_number = next_sequence();
  m.stream_sid = identity_.stream_sid;
  m.track = "inbound";
  m.timestamp = std::to_string(chunk_ * frame_ms);
  m.chunk = std::to_string(++chunk_);
  m.payload = twilio::base64_encode(frame);
  return twilio::serialize(twilio::TwilioMessage{std::move(m)});
}

std::string TwilioStreamWriter::dtmf(char digit) {
  return twilio::serialize(twilio::TwilioMessage{
      twilio::DtmfMessage{next_sequence(), identity_.stream_sid, "inbound_track", std::string(1, digit)}});
}

std::string TwilioStreamWriter::mark(const std::string& name) {
  return twilio::serialize(twilio::TwilioMessage{twilio::MarkMessage{next_sequence(), identity_.stream_sid, name}});
}

std::string TwilioStreamWriter::stop() {
  return twilio::serialize(twilio::TwilioMessage{
      twilio::StopMessage{next_sequence(), identity_.stream_sid, identity_.account_sid, identity_.call_sid}});
}

}  // namespace callproxy::testclient
