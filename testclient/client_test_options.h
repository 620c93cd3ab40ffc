// Everything `callproxy client-test` is configured with.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "testclient/call_flow.h"

namespace callproxy::testclient {

struct DtmfAt {
  char digit;
  std::chrono::milliseconds at;  // since the first media frame
};

struct ClientTestOptions {
  enum class Mode { every, once, load };

  std::string url = "ws://localhost:8999/media";
  std::string sign_url;             // the URL the signature covers; default: url as wss://
  std::vector<std::uint8_t> audio;  // 8 kHz mono mu-law
  std::string audio_name = "sample call";
  std::map<std::string, std::string> custom_parameters;
  // Without an executionId among them: give each call its own, shaped like a Studio execution's
  // SID (FN + 32 hex), so /executions/:id/connected can be polled for it as a flow would.
  bool execution_id_per_call = true;
  std::string auth_token;  // non-empty: sign the handshake
  std::string ca_file;     // wss://: a CA to trust besides the system's (a test or private CA)
  std::vector<DtmfAt> dtmf;
  std::string save_replies;  // WAV file for the audio the server sent back
  bool json = false;
  bool pace = true;
  Mode mode = Mode::every;
  std::chrono::milliseconds every{10'000};
  unsigned calls = 1;
  std::chrono::milliseconds duration{0};  // 0: the recording once
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds reply_grace{700};  // after stop: time left for the last replies
};

// Runs the calls the options ask for; returns the process exit code (0: every call streamed to
// its end without being refused or cut off; 1 otherwise).
int run_client_test(const ClientTestOptions& options);

// client-test --flow: one whole call as Twilio places it (call_flow.h), its streams run as
// `options` says (audio, pacing, DTMF, the CA file; url and sign_url come from each <Stream>).
// Prints one JSON line per step; returns 0 when the call reached its end without error, 1 otherwise.
int run_call_flow_test(const ClientTestOptions& options, const CallFlowOptions& flow);

// The hooks run_call_flow_test runs the engine on (webhooks over HTTP(S), streams on sockets), for
// a test that drives run_call_flow (call_flow.h) in its own process and reads the steps back.
// `options` must outlive them.
std::unique_ptr<CallFlowHooks> make_socket_flow_hooks(const ClientTestOptions& options);

}  // namespace callproxy::testclient
