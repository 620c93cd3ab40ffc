// client-test --flow: Twilio's part of a whole call. The engine fetches the voice URL as Twilio
// does (form fields, signed), follows the TwiML it gets back verb by verb, and runs the media
// streams it asks for through CallFlowHooks, so that it runs without a network in the unit tests
// and on real sockets in the binary (call_runner.cpp). Every step is a JSON object (CallFlowStep).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "twilio/signature.h"

namespace callproxy::testclient {

struct CallFlowOptions {
  std::string url;          // the voice URL (http:// or https://), fetched with POST first
  std::string auth_token;   // non-empty: X-Twilio-Signature on every request
  std::string account_sid;  // AC + 32 hex
  std::string call_sid;     // CA + 32 hex
  std::string from = "+15555550100";
  std::string to = "+15555550199";
  // What the caller types at each <Gather>, in order: "1234#" or "" (types nothing).
  std::vector<std::string> digits;
  // Say/Play/Pause and a Gather's timeout take no time; a <Pause> while a <Start><Stream> fork
  // runs is waited all the same (it holds the call while the fork streams).
  bool skip_prompts = false;
  unsigned max_documents = 50;                      // TwiML documents fetched per call
  unsigned max_redirect_documents = 10;             // consecutive documents that only <Redirect>
  std::chrono::milliseconds fetch_timeout{15'000};  // Twilio's webhook timeout
  // <Say> paces at this speaking rate (an estimate; Twilio's voices speak about this fast) and
  // takes at least say_minimum; a <Play> (never fetched: its length is unknown) takes play_estimate.
  double words_per_minute = 150;
  std::chrono::milliseconds say_minimum{500};
  std::chrono::milliseconds play_estimate{1'000};
};

// One request of the call: the URL (for GET with the parameters in its query), the method, the
// form fields (POST) and the headers to send (X-Twilio-Signature when signed).
struct FlowRequest {
  std::string url;
  std::string method;            // POST or GET
  twilio::RequestParams params;  // the body's form fields (empty for GET)
  std::map<std::string, std::string> headers;
};

struct FlowResponse {
  int status = 0;  // 0: no answer (error says why: timeout, refused)
  std::string body;
  std::string error;
};

// A <Stream> to run: <Connect><Stream> (the TwiML waits for it) or <Start><Stream> (a fork).
struct StreamRequest {
  std::string url;
  std::map<std::string, std::string> parameters;  // its <Parameter>s: start.customParameters
  std::string call_sid;
  std::string account_sid;
  std::string stream_sid;  // new per stream: MZ + 32 hex
  bool fork = false;
};

struct StreamResult {
  enum class EndedBy { server, caller, connection };
  EndedBy ended_by = EndedBy::connection;
  std::string url;
  std::string stream_sid;
  bool fork = false;
  std::uint64_t first_frame = 0;  // where in the recording the stream began (20 ms frames)
  std::uint64_t frames_sent = 0;
  std::uint64_t replies = 0;  // media messages received
  std::uint64_t marks_echoed = 0;
  int close_code = 0;  // the close frame's code (0: none)
  std::string close_reason;
  std::string error;  // connection: why (cannot connect, handshake refused, lost)
  std::chrono::milliseconds ms{0};
  bool recording_ended = false;  // the caller's audio ran out: the caller hangs up
  bool came_up = false;          // the handshake succeeded (a drop afterwards is no stream error)
};

std::string_view to_string(StreamResult::EndedBy ended_by);

// What the engine needs from the outside world. The binary's runs on sockets; tests give fakes.
class CallFlowHooks {
 public:
  virtual ~CallFlowHooks() = default;
  // One webhook request; answers within the timeout or says why not.
  virtual FlowResponse fetch(const FlowRequest& request, std::chrono::milliseconds timeout) = 0;
  // <Connect><Stream>: runs the stream until the server closes it, the connection drops, or the
  // recording ends (the caller hangs up: stop, close).
  virtual StreamResult run_stream(const StreamRequest& request) = 0;
  // <Start><Stream>: starts it in the background and returns at once.
  virtual void start_stream(const StreamRequest& request) = 0;
  // Whether a stream started with start_stream still runs.
  virtual bool forks_running() = 0;
  // Waits `duration` (a prompt, a Gather's timeout); false when the call ended meanwhile (a
  // forked stream's recording ran out).
  virtual bool wait(std::chrono::milliseconds duration) = 0;
  // The call ends: forked streams still running are ended by the caller; returns every forked
  // stream's result (those that ended earlier too).
  virtual std::vector<StreamResult> end_call() = 0;
};

struct CallFlowResult {
  // hangup (<Hangup/>), reject (<Reject>), caller_hangup (the recording ended), completed (the
  // TwiML ran out of verbs), error.
  std::string outcome;
  std::string error;
  // Streams that ended with an error without ever coming up (refused, cannot connect): the call
  // goes on as Twilio's would, but the binary exits 1.
  unsigned stream_errors = 0;
  std::vector<nlohmann::json> steps;  // every step, the "end" line last
  bool ok() const { return outcome != "error"; }
  // The steps called `name` ("stream", "fetch", …), in order.
  std::vector<nlohmann::json> steps_named(std::string_view name) const;
};

// Runs the call. `on_step` (optional) sees each step as it happens (the binary prints it).
CallFlowResult run_call_flow(const CallFlowOptions& options, CallFlowHooks& hooks,
                             const std::function<void(const nlohmann::json&)>& on_step = {});

// `reference` resolved against `base` as a browser resolves a link (RFC 3986, section 5.2):
// absolute URLs, //authority, /absolute/path, relative/path with . and .., ?query, #fragment.
std::string resolve_url(std::string_view base, std::string_view reference);

// Form encoding: key=value&… with RFC 3986's unreserved characters left as they are.
std::string form_encode(const twilio::RequestParams& params);

// The seconds <Say> is paced at for `text` spoken `loops` times.
std::chrono::milliseconds say_duration(const CallFlowOptions& options, std::string_view text, unsigned loops);

}  // namespace callproxy::testclient
