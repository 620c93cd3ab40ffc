// client-test --flow's engine with canned TwiML documents and fake streams: no network.
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <stdexcept>
#include <string>

#include "testclient/call_flow.h"
#include "twilio/signature.h"

using namespace callproxy;
using namespace callproxy::testclient;
using namespace std::chrono_literals;

namespace {

const std::string base = "https://flow.example.com/voice/start";

std::string doc(const std::string& verbs) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>" + verbs + "</Response>";
}

// Answers each URL (without its query for GETs' parameters) with a canned document; records every
// request, every wait and every stream.
class FakeHooks final : public CallFlowHooks {
 public:
  std::map<std::string, FlowResponse> documents;  // by "METHOD url"
  std::vector<FlowRequest> requests;
  std::vector<std::chrono::milliseconds> waits;
  std::vector<StreamRequest> streams;
  std::deque<StreamResult> stream_results;  // what each run_stream answers, in order
  std::vector<StreamResult> fork_results;
  bool recording_ends_during_waits = false;
  std::size_t recording_ends_after_waits = 0;  // non-zero: wait() answers false from this wait on
  bool throw_on_fetch = false;                 // fetch() throws what no FlowError is
  bool forks_ended = false;                    // the forks' server closed them early
  int end_calls = 0;

  void answer(const std::string& method, const std::string& url, const std::string& body, int status = 200) {
    documents[method + " " + url] = FlowResponse{status, body, {}};
  }

  FlowResponse fetch(const FlowRequest& request, std::chrono::milliseconds) override {
    requests.push_back(request);
    if (throw_on_fetch) throw std::logic_error("the fake broke");
    auto key = request.method + " " + request.url;
    if (request.method == "GET") key = key.substr(0, key.find('?', key.find(' ') + 1));
    const auto it = documents.find(key);
    if (it == documents.end()) return FlowResponse{404, "", {}};
    return it->second;
  }
  StreamResult run_stream(const StreamRequest& request) override {
    streams.push_back(request);
    StreamResult r;
    if (!stream_results.empty()) {
      r = stream_results.front();
      stream_results.pop_front();
    }
    r.url = request.url;
    r.stream_sid = request.stream_sid;
    return r;
  }
  void start_stream(const StreamRequest& request) override {
    streams.push_back(request);
    StreamResult r;
    r.url = request.url;
    r.fork = true;
    r.ended_by = StreamResult::EndedBy::caller;
    fork_results.push_back(r);
  }
  bool forks_running() override { return !fork_results.empty() && !forks_ended; }
  bool wait(std::chrono::milliseconds duration) override {
    waits.push_back(duration);
    if (recording_ends_after_waits > 0 && waits.size() >= recording_ends_after_waits) return false;
    return !recording_ends_during_waits;
  }
  std::vector<StreamResult> end_call() override {
    ++end_calls;
    return std::exchange(fork_results, {});
  }

  std::string param(std::size_t request, const std::string& key) const {
    for (const auto& [k, v] : requests.at(request).params)
      if (k == key) return v;
    return "(absent)";
  }
};

CallFlowOptions options_for(std::vector<std::string> digits = {}) {
  CallFlowOptions o;
  o.url = base;
  o.call_sid = "CA0123456789abcdef0123456789abcdef";
  o.account_sid = "AC0123456789abcdef0123456789abcdef";
  o.digits = std::move(digits);
  return o;
}

std::vector<std::string> step_names(const CallFlowResult& r) {
  std::vector<std::string> names;
  for (const auto& s : r.steps) names.push_back(s.at("step").get<std::string>());
  return names;
}

using Names = std::vector<std::string>;

StreamResult ended_by(StreamResult::EndedBy by, int code = 0, bool recording_ended = false) {
  StreamResult r;
  r.ended_by = by;
  r.close_code = code;
  r.recording_ended = recording_ended;
  r.frames_sent = 42;
  return r;
}

}  // namespace

TEST_CASE("call flow: the first request carries Twilio's call fields, form-encoded and signed", "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base, doc("<Say voice=\"alice\" language=\"en-US\">Hello there, caller.</Say><Hangup/>"));
  auto options = options_for();
  options.auth_token = "12345";
  options.from = "+15551234567";
  options.to = "+15557654321";
  const auto result = run_call_flow(options, hooks);
  REQUIRE(result.ok());
  CHECK(result.outcome == "hangup");
  CHECK(step_names(result) == Names{"fetch", "say", "hangup", "end"});
  REQUIRE(hooks.requests.size() == 1);
  const auto& request = hooks.requests[0];
  CHECK(request.method == "POST");
  CHECK(request.url == base);
  const twilio::RequestParams expected{{"AccountSid", options.account_sid},
                                       {"ApiVersion", "2010-04-01"},
                                       {"CallSid", options.call_sid},
                                       {"CallStatus", "ringing"},  // the voice URL: Twilio's first request
                                       {"Called", "+15557654321"},
                                       {"Caller", "+15551234567"},
                                       {"Direction", "inbound"},
                                       {"From", "+15551234567"},
                                       {"To", "+15557654321"}};
  CHECK(request.params == expected);
  CHECK(request.headers.at("X-Twilio-Signature") == twilio::compute_signature("12345", base, expected));
  const auto say = result.steps_named("say").at(0);
  CHECK(say.at("text") == "Hello there, caller.");
  CHECK(say.at("voice") == "alice");
  CHECK(say.at("language") == "en-US");
  CHECK(result.steps.back().at("outcome") == "hangup");
  CHECK(result.steps.back().at("error").is_null());
  // Without --skip-prompts the Say is paced at the speaking rate (3 words at 150 a minute).
  CHECK(hooks.waits == std::vector<std::chrono::milliseconds>{1200ms});
}

TEST_CASE("call flow: without an auth token nothing is signed, and skipped prompts do not wait", "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base, doc("<Say>Hi</Say><Play>https://cdn.example.com/a.mp3</Play><Pause length=\"3\"/>"));
  auto options = options_for();
  options.skip_prompts = true;
  const auto result = run_call_flow(options, hooks);
  CHECK(result.outcome == "completed");
  CHECK(step_names(result) == Names{"fetch", "say", "play", "pause", "end"});
  CHECK(result.steps_named("play").at(0).at("url") == "https://cdn.example.com/a.mp3");
  CHECK(result.steps_named("pause").at(0).at("length") == 3);
  CHECK(hooks.requests.at(0).headers.count("X-Twilio-Signature") == 0);
  CHECK(hooks.waits.empty());
  CHECK(hooks.requests.size() == 1);  // the Play's URL is never fetched
}

TEST_CASE("call flow: Gather plays its prompts, stops at numDigits and posts Digits to its action", "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base,
               doc("<Gather numDigits=\"4\" action=\"pin\"><Say>Your PIN</Say><Pause/></Gather><Say>Bye</Say>"));
  hooks.answer("POST", "https://flow.example.com/voice/pin", doc("<Hangup/>"));
  auto options = options_for({"123456"});
  options.skip_prompts = true;
  const auto result = run_call_flow(options, hooks);
  REQUIRE(result.ok());
  CHECK(step_names(result) == Names{"fetch", "say", "pause", "gather", "fetch", "hangup", "end"});
  const auto gather = result.steps_named("gather").at(0);
  CHECK(gather.at("digits") == "1234");
  CHECK(gather.at("finished_on_key") == "");
  CHECK(gather.at("action") == "https://flow.example.com/voice/pin");
  REQUIRE(hooks.requests.size() == 2);
  CHECK(hooks.param(1, "Digits") == "1234");
  CHECK(hooks.param(1, "FinishedOnKey") == "");
  CHECK(hooks.param(1, "CallSid") == "CA0123456789abcdef0123456789abcdef");
  CHECK(hooks.param(0, "CallStatus") == "ringing");
  CHECK(hooks.param(1, "CallStatus") == "in-progress");
}

TEST_CASE("call flow: finishOnKey ends the entry and is not among the Digits, method GET puts them in the query",
          "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base, doc("<Gather finishOnKey=\"*\" action=\"/next?x=1\" method=\"GET\"/>"));
  hooks.answer("GET", "https://flow.example.com/next", doc("<Reject reason=\"busy\"/>"));
  auto options = options_for({"98*7"});
  options.auth_token = "tok";
  const auto result = run_call_flow(options, hooks);
  REQUIRE(result.ok());
  CHECK(result.outcome == "reject");
  CHECK(result.steps_named("reject").at(0).at("reason") == "busy");
  const auto gather = result.steps_named("gather").at(0);
  CHECK(gather.at("digits") == "98");
  CHECK(gather.at("finished_on_key") == "*");
  CHECK(gather.at("method") == "GET");
  REQUIRE(hooks.requests.size() == 2);
  const auto& get = hooks.requests[1];
  CHECK(get.params.empty());
  CHECK(get.url.rfind("https://flow.example.com/next?x=1&AccountSid=", 0) == 0);
  CHECK(get.url.find("&Digits=98&FinishedOnKey=%2A") != std::string::npos);
  CHECK(get.headers.at("X-Twilio-Signature") == twilio::compute_signature("tok", get.url, {}));
}

TEST_CASE("call flow: a Gather without an entry, or with an empty one, waits its timeout and goes on after it",
          "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base,
               doc("<Gather timeout=\"7\"><Say>PIN?</Say></Gather><Gather timeout=\"2\"/><Say>Goodbye</Say><Hangup/>"));
  const auto result = run_call_flow(options_for({""}), hooks);
  REQUIRE(result.ok());
  CHECK(step_names(result) == Names{"fetch", "say", "gather", "gather", "say", "hangup", "end"});
  const auto gathers = result.steps_named("gather");
  CHECK(gathers[0].at("timed_out") == true);
  CHECK(gathers[0].count("no_entry_left") == 0);
  CHECK(gathers[1].at("no_entry_left") == true);
  // The Say's 500 ms, the two timeouts, the goodbye's 500 ms.
  CHECK(hooks.waits == std::vector<std::chrono::milliseconds>{500ms, 7000ms, 2000ms, 500ms});
  CHECK(hooks.requests.size() == 1);
}

TEST_CASE("call flow: Gather's action defaults to the document's own URL and method to POST", "[flow]") {
  FakeHooks hooks;
  // The first answer asks again; the second (Digits posted) is the same URL: a count decides.
  hooks.answer("POST", base, doc("<Gather numDigits=\"1\"/><Hangup/>"));
  auto options = options_for({"5", "6", "7"});
  options.max_documents = 3;
  const auto result = run_call_flow(options, hooks);
  CHECK_FALSE(result.ok());
  CHECK(result.error.find("more than 3 TwiML documents") != std::string::npos);
  REQUIRE(hooks.requests.size() == 3);
  CHECK(hooks.requests[1].url == base);
  CHECK(hooks.requests[1].method == "POST");
  CHECK(hooks.param(1, "Digits") == "5");
  CHECK(hooks.param(2, "Digits") == "6");
}

TEST_CASE("call flow: relative URLs resolve against the current document's URL as a browser resolves them", "[flow]") {
  const std::string from = "https://h.example.com:8443/a/b/c?q=1#f";
  CHECK(resolve_url(from, "d") == "https://h.example.com:8443/a/b/d");
  CHECK(resolve_url(from, "./d/") == "https://h.example.com:8443/a/b/d/");
  CHECK(resolve_url(from, "../d?x=2") == "https://h.example.com:8443/a/d?x=2");
  CHECK(resolve_url(from, "../../../../d") == "https://h.example.com:8443/d");
  CHECK(resolve_url(from, "/twiml/pin?tries=1") == "https://h.example.com:8443/twiml/pin?tries=1");
  CHECK(resolve_url(from, "?tries=2") == "https://h.example.com:8443/a/b/c?tries=2");
  CHECK(resolve_url(from, "") == "https://h.example.com:8443/a/b/c?q=1");
  CHECK(resolve_url(from, "#g") == "https://h.example.com:8443/a/b/c?q=1#g");
  CHECK(resolve_url(from, "//other.example.com/x") == "https://other.example.com/x");
  CHECK(resolve_url(from, "http://plain.example.com/y/../z") == "http://plain.example.com/z");
  CHECK(resolve_url("http://127.0.0.1:8080", "pin") == "http://127.0.0.1:8080/pin");

  FakeHooks hooks;
  hooks.answer("POST", "http://127.0.0.1:9/twiml/voice", doc("<Redirect>after?step=2</Redirect>"));
  hooks.answer("POST", "http://127.0.0.1:9/twiml/after?step=2", doc("<Redirect method=\"GET\">/done</Redirect>"));
  hooks.answer("GET", "http://127.0.0.1:9/done", doc("<Hangup/>"));
  auto options = options_for();
  options.url = "http://127.0.0.1:9/twiml/voice";
  const auto result = run_call_flow(options, hooks);
  REQUIRE(result.ok());
  CHECK(step_names(result) == Names{"fetch", "redirect", "fetch", "redirect", "fetch", "hangup", "end"});
  CHECK(result.steps_named("redirect").at(0).at("url") == "http://127.0.0.1:9/twiml/after?step=2");
  CHECK(result.steps_named("redirect").at(1).at("method") == "GET");
}

TEST_CASE("call flow: a redirect loop is cut after the bound of documents that only redirect", "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base, doc("<Redirect>start</Redirect>"));
  auto options = options_for();
  options.max_redirect_documents = 4;
  const auto result = run_call_flow(options, hooks);
  CHECK(result.outcome == "error");
  CHECK(result.error.find("redirect loop") != std::string::npos);
  CHECK(hooks.requests.size() == 5);
  CHECK(result.steps.back().at("error") == result.error);
}

TEST_CASE("call flow: unknown verbs and nouns, a wrong root and a missing attribute are errors naming the element",
          "[flow]") {
  const auto error_of = [](const std::string& body) {
    FakeHooks hooks;
    hooks.answer("POST", base, body);
    auto options = options_for();
    options.skip_prompts = true;
    const auto result = run_call_flow(options, hooks);
    CHECK(result.outcome == "error");
    CHECK(result.steps.back().at("outcome") == "error");
    return result.error;
  };
  CHECK(error_of(doc("<Say>hi</Say><Record/>")).find("<Record>") != std::string::npos);
  CHECK(error_of(doc("<Enqueue>q</Enqueue>")).find("<Enqueue>") != std::string::npos);
  CHECK(error_of(doc("<Dial><Conference>room</Conference></Dial>")).find("<Conference>") != std::string::npos);
  CHECK(error_of(doc("<Connect><VirtualAgent/></Connect>")).find("<VirtualAgent>") != std::string::npos);
  CHECK(error_of(doc("<Gather><Record/></Gather>")).find("<Record>") != std::string::npos);
  CHECK(error_of(doc("<Connect><Stream/></Connect>")).find("<Stream> without its url") != std::string::npos);
  CHECK(error_of(doc("<Connect><Stream url=\"wss://x/media\"><Parameter value=\"1\"/></Stream></Connect>"))
            .find("<Parameter> without its name") != std::string::npos);
  CHECK(error_of(doc("<Pause length=\"soon\"/>")).find("<Pause> length") != std::string::npos);
  CHECK(error_of("<Reply><Hangup/></Reply>").find("<Reply>") != std::string::npos);
  CHECK(error_of(doc("<Redirect/>")).find("<Redirect> without a URL") != std::string::npos);
}

TEST_CASE("call flow: malformed XML, a non-2xx answer and no answer are clear errors naming the URL", "[flow]") {
  {
    FakeHooks hooks;
    hooks.answer("POST", base, "<Response><Say>unclosed</Response>");
    const auto result = run_call_flow(options_for(), hooks);
    CHECK(result.outcome == "error");
    CHECK(result.error.find(base) != std::string::npos);
    CHECK(result.error.find("did not answer TwiML") != std::string::npos);
    CHECK(result.error.find("offset") != std::string::npos);
  }
  {
    FakeHooks hooks;
    hooks.answer("POST", base, "oops", 500);
    const auto result = run_call_flow(options_for(), hooks);
    CHECK(result.outcome == "error");
    CHECK(result.error == "POST " + base + " answered HTTP 500");
    CHECK(result.steps_named("fetch").at(0).at("status") == 500);
  }
  {
    FakeHooks hooks;  // answers 404 to everything
    hooks.documents["POST " + base] = FlowResponse{0, "", "no answer within 15 s"};
    const auto result = run_call_flow(options_for(), hooks);
    CHECK(result.error == "POST " + base + ": no answer within 15 s");
  }
}

TEST_CASE("call flow: Dial records where the call went (Number, Sip, plain text) and goes on", "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base,
               doc("<Dial><Number>+15550001111</Number><Sip>sip:desk@pbx.example.com</Sip></Dial>"
                   "<Dial> +15550002222 </Dial><Say>after</Say>"));
  auto options = options_for();
  options.skip_prompts = true;
  const auto result = run_call_flow(options, hooks);
  REQUIRE(result.ok());
  CHECK(result.outcome == "completed");
  const auto dials = result.steps_named("dial");
  REQUIRE(dials.size() == 3);
  CHECK(dials[0].at("to") == "+15550001111");
  CHECK(dials[0].at("kind") == "number");
  CHECK(dials[1].at("to") == "sip:desk@pbx.example.com");
  CHECK(dials[1].at("kind") == "sip");
  CHECK(dials[2].at("to") == "+15550002222");
  CHECK(step_names(result).at(4) == "say");
}

TEST_CASE("call flow: Connect Stream runs with the call's CallSid and parameters, a server close goes on after it",
          "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base,
               doc("<Connect><Stream url=\"wss://p.example.com/media\"><Parameter name=\"a\" value=\"1\"/>"
                   "<Parameter name=\"b\" value=\"two\"/></Stream></Connect>"
                   "<Redirect>after</Redirect>"));
  hooks.answer("POST", "https://flow.example.com/voice/after",
               doc("<Connect><Stream url=\"wss://p.example.com/media\"/></Connect><Say>never</Say>"));
  hooks.stream_results = {ended_by(StreamResult::EndedBy::server, 1000),
                          ended_by(StreamResult::EndedBy::caller, 1000, true)};
  const auto result = run_call_flow(options_for(), hooks);
  REQUIRE(result.ok());
  CHECK(result.outcome == "caller_hangup");
  CHECK(step_names(result) == Names{"fetch", "stream", "redirect", "fetch", "stream", "caller_hangup", "end"});
  REQUIRE(hooks.streams.size() == 2);
  CHECK(hooks.streams[0].call_sid == "CA0123456789abcdef0123456789abcdef");
  CHECK(hooks.streams[0].parameters == std::map<std::string, std::string>{{"a", "1"}, {"b", "two"}});
  CHECK(hooks.streams[0].fork == false);
  CHECK(hooks.streams[0].stream_sid.size() == 34);
  CHECK(hooks.streams[0].stream_sid.rfind("MZ", 0) == 0);
  CHECK(hooks.streams[0].stream_sid != hooks.streams[1].stream_sid);
  const auto streams = result.steps_named("stream");
  CHECK(streams[0].at("ended_by") == "server");
  CHECK(streams[0].at("close_code") == 1000);
  CHECK(streams[0].at("frames_sent") == 42);
  CHECK(streams[1].at("ended_by") == "caller");
}

TEST_CASE("call flow: a dropped Connect stream goes on with the verb after it", "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base, doc("<Connect><Stream url=\"ws://127.0.0.1:1/media\"/></Connect><Hangup/>"));
  auto dropped = ended_by(StreamResult::EndedBy::connection);
  dropped.error = "stream lost: end of stream";
  hooks.stream_results = {dropped};
  const auto result = run_call_flow(options_for(), hooks);
  CHECK(result.outcome == "hangup");
  const auto stream = result.steps_named("stream").at(0);
  CHECK(stream.at("ended_by") == "connection");
  CHECK(stream.at("error") == "stream lost: end of stream");
}

TEST_CASE("call flow: Start Stream forks and the TwiML goes on, the call ends when the recording does", "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base,
               doc("<Start><Stream url=\"wss://p.example.com/media\"/></Start><Say>Hold on</Say><Pause length=\"600\"/>"
                   "<Say>never</Say>"));
  hooks.recording_ends_during_waits = true;
  const auto result = run_call_flow(options_for(), hooks);
  REQUIRE(result.ok());
  CHECK(result.outcome == "caller_hangup");
  CHECK(step_names(result) == Names{"fetch", "start_stream", "say", "caller_hangup", "stream", "end"});
  CHECK(hooks.streams.at(0).fork);
  CHECK(result.steps_named("stream").at(0).at("fork") == true);
  CHECK(hooks.end_calls == 1);
}

TEST_CASE("call flow: TwiML nested deeper than the XML reader's bound is refused with its offset", "[flow]") {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<Gather>";
  for (int i = 0; i < 100; ++i) deep += "</Gather>";
  FakeHooks hooks;
  hooks.answer("POST", base, doc(deep));
  const auto result = run_call_flow(options_for(), hooks);
  CHECK(result.outcome == "error");
  CHECK(result.error.find("nested deeper than 64") != std::string::npos);
  CHECK(result.error.find("offset") != std::string::npos);
}

TEST_CASE("call flow: with --skip-prompts a Pause while a fork streams is waited, and its hold loop is no loop",
          "[flow]") {
  FakeHooks hooks;
  // serve's fork mode: start the fork, then hold the call with Pause and poll with Redirect.
  hooks.answer("POST", base,
               doc("<Start><Stream url=\"wss://p.example.com/media\"/></Start><Say>Connected</Say>"
                   "<Pause length=\"5\"/><Redirect method=\"POST\">/twiml/after-stream?poll=1</Redirect>"));
  hooks.answer("POST", "https://flow.example.com/twiml/after-stream?poll=1",
               doc("<Pause length=\"5\"/><Redirect method=\"POST\">/twiml/after-stream?poll=1</Redirect>"));
  hooks.recording_ends_after_waits = 20;  // the recording ends during the 20th pause
  auto options = options_for();
  options.skip_prompts = true;
  options.max_documents = 5;
  options.max_redirect_documents = 2;
  const auto result = run_call_flow(options, hooks);
  INFO(result.error);
  REQUIRE(result.ok());
  CHECK(result.outcome == "caller_hangup");
  // The Say is skipped; every Pause is waited.
  CHECK(hooks.waits == std::vector<std::chrono::milliseconds>(20, 5000ms));
  CHECK(hooks.requests.size() == 20);
  CHECK(result.steps.back().at("documents") == 20);
  CHECK(result.steps_named("stream").at(0).at("fork") == true);
}

TEST_CASE("call flow: without a fork --skip-prompts skips a Pause, and Pause-Redirect documents count", "[flow]") {
  FakeHooks hooks;
  const bool fork_ended = GENERATE(false, true);
  INFO((fork_ended ? "a fork that has ended" : "no fork"));
  hooks.forks_ended = fork_ended;
  hooks.answer("POST", base,
               doc(std::string(fork_ended ? "<Start><Stream url=\"wss://p.example.com/media\"/></Start>" : "") +
                   "<Pause length=\"5\"/><Redirect>next</Redirect>"));
  hooks.answer("POST", "https://flow.example.com/voice/next", doc("<Pause length=\"5\"/><Redirect>next</Redirect>"));
  auto options = options_for();
  options.skip_prompts = true;
  options.max_documents = 5;
  const auto result = run_call_flow(options, hooks);
  CHECK(result.outcome == "error");
  CHECK(result.error.find("more than 5 TwiML documents") != std::string::npos);
  CHECK(hooks.waits.empty());
}

TEST_CASE("call flow: Connect's action is requested when the stream ends and the verbs after it never run", "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base,
               doc("<Connect action=\"../next?x=1\" method=\"GET\"><Stream url=\"wss://p.example.com/media\"/>"
                   "</Connect><Say>never</Say>"));
  hooks.answer("GET", "https://flow.example.com/next",
               doc("<Connect action=\"/posted\"><Stream "
                   "url=\"wss://p.example.com/media\"/></Connect><Hangup/>"));
  hooks.answer("POST", "https://flow.example.com/posted", doc("<Reject/>"));
  hooks.stream_results = {ended_by(StreamResult::EndedBy::server, 1000), ended_by(StreamResult::EndedBy::server, 1000)};
  auto options = options_for();
  options.auth_token = "tok";
  const auto result = run_call_flow(options, hooks);
  REQUIRE(result.ok());
  CHECK(result.outcome == "reject");
  CHECK(step_names(result) ==
        Names{"fetch", "stream", "action", "fetch", "stream", "action", "fetch", "reject", "end"});
  REQUIRE(hooks.requests.size() == 3);
  CHECK(hooks.requests[1].method == "GET");
  CHECK(hooks.requests[1].url.rfind("https://flow.example.com/next?x=1&AccountSid=", 0) == 0);
  CHECK(hooks.requests[2].method == "POST");
  CHECK(hooks.requests[2].url == "https://flow.example.com/posted");
  CHECK(hooks.requests[2].headers.at("X-Twilio-Signature") ==
        twilio::compute_signature("tok", hooks.requests[2].url, hooks.requests[2].params));
  CHECK(result.steps.back().at("documents") == 3);
  CHECK(result.steps_named("say").empty());
}

TEST_CASE("call flow: Dial's action gets DialCallStatus completed and the call goes on with its document", "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base, doc("<Dial action=\"dialled\"><Number>+15550001111</Number></Dial><Say>never</Say>"));
  hooks.answer("POST", "https://flow.example.com/voice/dialled", doc("<Hangup/>"));
  auto options = options_for();
  options.skip_prompts = true;
  const auto result = run_call_flow(options, hooks);
  REQUIRE(result.ok());
  CHECK(result.outcome == "hangup");
  CHECK(step_names(result) == Names{"fetch", "dial", "action", "fetch", "hangup", "end"});
  REQUIRE(hooks.requests.size() == 2);
  CHECK(hooks.param(1, "DialCallStatus") == "completed");
  CHECK(hooks.param(1, "DialCallDuration") == "0");
  CHECK(hooks.param(1, "CallStatus") == "in-progress");
  CHECK(result.steps_named("fetch").at(1).at("DialCallStatus") == "completed");
}

TEST_CASE("call flow: a stream that never came up is counted as a stream error, one that dropped is not", "[flow]") {
  FakeHooks hooks;
  hooks.answer("POST", base,
               doc("<Connect><Stream url=\"ws://127.0.0.1:1/media\"/></Connect>"
                   "<Connect><Stream url=\"ws://127.0.0.1:1/media\"/></Connect><Hangup/>"));
  auto refused = ended_by(StreamResult::EndedBy::connection);
  refused.error = "handshake refused: HTTP 403";
  auto dropped = ended_by(StreamResult::EndedBy::connection);
  dropped.error = "stream lost: end of stream";
  dropped.came_up = true;
  hooks.stream_results = {refused, dropped};
  const auto result = run_call_flow(options_for(), hooks);
  CHECK(result.outcome == "hangup");  // the call goes on as Twilio's would
  CHECK(result.stream_errors == 1);
  CHECK(result.steps.back().at("stream_errors") == 1);
}

TEST_CASE("call flow: an exception that is no TwiML problem still ends the call with an end line", "[flow]") {
  FakeHooks hooks;
  hooks.throw_on_fetch = true;
  const auto result = run_call_flow(options_for(), hooks);
  CHECK(result.outcome == "error");
  CHECK(result.error.find("the fake broke") != std::string::npos);
  REQUIRE(!result.steps.empty());
  CHECK(result.steps.back().at("step") == "end");
  CHECK(result.steps.back().at("outcome") == "error");
}
