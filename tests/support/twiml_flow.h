// The built-in call flow as tests drive it by hand: webhooks posted as Twilio posts them, answers
// read back as XML, and a stream opened as Twilio opens one for a call. Shared by the tests of the
// flow (twiml_test) and of the bot's control of the call (call_control_test).
#pragma once

#include <catch2/catch.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "core/xml_reader.h"
#include "support/http_client.h"
#include "support/twilio_webhook.h"
#include "support/ws_peer.h"
#include "testclient/twilio_stream_writer.h"

namespace callproxy::test {

using Names = std::vector<std::string>;
using callproxy::XmlElement;

inline HttpReply post_form(unsigned short port, const std::string& target, const twilio::RequestParams& params,
                           std::map<std::string, std::string> headers = {}) {
  headers["Content-Type"] = "application/x-www-form-urlencoded";
  return http_request(port, "POST", target, headers, form_body(params));
}

// The TwiML of a 200 answer, parsed (the test fails on anything not well-formed).
inline XmlElement twiml_of(const HttpReply& reply) {
  INFO(reply.body);
  REQUIRE(reply.status == 200);
  CHECK(reply.headers.at("content-type").rfind("text/xml", 0) == 0);
  auto root = callproxy::parse_xml(reply.body);
  REQUIRE(root.name == "Response");
  return root;
}

// The <Parameter>s of a <Stream> as a map.
inline std::map<std::string, std::string> parameters_of(const XmlElement& stream) {
  std::map<std::string, std::string> out;
  for (const auto* p : stream.children_named("Parameter")) out[p->at("name")] = p->at("value");
  return out;
}

// A CallSid shaped as Twilio's: CA and 32 digits.
inline std::string call_sid_for(int n) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "CA%032d", n);
  return buffer;
}

// A media stream as Twilio opens it for a call, with the <Stream>'s parameters as its custom ones.
struct StreamCall {
  StreamCall(unsigned short port, const std::string& call_sid, std::map<std::string, std::string> params,
             const std::string& target = "/media", const std::string& stream_sid = "MZ0123456789abcdef0123456789abcdef")
      : writer({"AC0123456789abcdef0123456789abcdef", call_sid, stream_sid}, std::move(params)), ws(port, target) {}
  void start() {
    ws.send_text(writer.connected());
    ws.send_text(writer.start());
  }
  testclient::TwilioStreamWriter writer;
  WsClient ws;
};

}  // namespace callproxy::test
