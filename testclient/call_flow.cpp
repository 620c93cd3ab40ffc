#include "testclient/call_flow.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "core/random_hex.h"
#include "core/xml_reader.h"
#include "twilio/percent_encoding.h"

namespace callproxy::testclient {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A TwiML problem that ends the call with an error (a bad element, a fetch that failed, a loop).
struct FlowError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How a document's verbs left it.
enum class Next { continue_verbs, fetch, end };

std::string lowercase(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string trimmed(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  const auto end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(begin, end - begin + 1));
}

// An attribute that must be a whole number in [low, high]; `fallback` when absent.
long number_attribute(const XmlElement& e, std::string_view name, long fallback, long low, long high) {
  const auto value = e.attribute(name);
  if (!value) return fallback;
  std::size_t used = 0;
  long n = 0;
  try {
    n = std::stol(*value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value->size() || n < low || n > high) {
    throw FlowError("<" + e.name + "> " + std::string(name) + "=\"" + *value + "\" is not a whole number in [" +
                    std::to_string(low) + ", " + std::to_string(high) + "]");
  }
  return n;
}

std::string method_attribute(const XmlElement& e) {
  auto method = e.attribute("method").value_or("POST");
  if (method != "POST" && method != "GET") {
    throw FlowError("<" + e.name + "> method=\"" + method + "\" is neither POST nor GET");
  }
  return method;
}

std::string required(const XmlElement& e, std::string_view name) {
  const auto value = e.attribute(name);
  if (!value || value->empty()) throw FlowError("<" + e.name + "> without its " + std::string(name) + " attribute");
  return *value;
}

class CallFlow {
 public:
  CallFlow(const CallFlowOptions& options, CallFlowHooks& hooks,
           const std::function<void(const nlohmann::json&)>& on_step)
      : options_(options), hooks_(hooks), on_step_(on_step), started_(Clock::now()) {}

  CallFlowResult run() {
    try {
      std::string url = options_.url;
      std::string method = "POST";
      twilio::RequestParams extra;
      while (true) {
        if (counted_documents_ == options_.max_documents) {
          throw FlowError("more than " + std::to_string(options_.max_documents) +
                          " TwiML documents in one call (--max-documents)");
        }
        ++documents_;
        ++counted_documents_;
        const auto document = fetch(url, method, extra);
        current_url_ = url;
        // A fork's hold loop (<Pause> then <Redirect>, polling while the fork streams) is not a
        // loop of redirects: it does not count against --max-documents.
        if (holds_for_fork(document)) --counted_documents_;
        const auto next = play(document);
        if (next == Next::end) break;
        if (next == Next::continue_verbs) {  // the document ran out of verbs: Twilio hangs up
          finish("completed");
          break;
        }
        url = next_url_;
        method = next_method_;
        extra = std::move(next_params_);
        next_params_.clear();
      }
    } catch (const FlowError& e) {
      fail(e.what());
    } catch (const std::exception& e) {
      fail(std::string("internal error: ") + e.what());
    }
    return std::move(result_);
  }

 private:
  void fail(const std::string& why) {
    result_.error = why;
    if (finished_) {  // the end line is out already: the error is reported beside it
      result_.outcome = "error";
      return;
    }
    try {
      finish("error");
    } catch (const std::exception&) {
      // The hooks failed while ending: the end line still goes out.
      finished_ = true;
      result_.outcome = "error";
      step(end_line("error"));
    }
  }

  // A document that only holds the call while a fork streams: <Pause>s (that take time) and
  // <Redirect>s.
  bool holds_for_fork(const XmlElement& document) {
    if (document.children.empty() || !fork_running()) return false;
    bool pauses = false;
    for (const auto& e : document.children) {
      if (e.name == "Pause") {
        const auto length = e.attribute("length");
        if (length && (*length == "0" || length->empty())) return false;
        pauses = true;
      } else if (e.name != "Redirect") {
        return false;
      }
    }
    return pauses;
  }

  bool fork_running() { return fork_started_ && hooks_.forks_running(); }

  // ---- steps ----------------------------------------------------------------------------
  long long since_start() const { return std::chrono::duration_cast<milliseconds>(Clock::now() - started_).count(); }

  void step(nlohmann::json line) {
    result_.steps.push_back(std::move(line));
    if (on_step_) on_step_(result_.steps.back());
  }

  // A step that took from `at` until now.
  nlohmann::json timed(std::string name, long long at) const {
    return {{"step", std::move(name)}, {"at_ms", at}, {"ms", since_start() - at}};
  }

  nlohmann::json stream_step(const StreamResult& r, long long at) {
    auto line = timed("stream", at);
    line["url"] = r.url;
    line["stream_sid"] = r.stream_sid;
    line["fork"] = r.fork;
    line["first_frame"] = r.first_frame;
    line["frames_sent"] = r.frames_sent;
    line["replies"] = r.replies;
    line["marks_echoed"] = r.marks_echoed;
    line["close_code"] = r.close_code;
    line["close_reason"] = r.close_reason;
    line["ended_by"] = std::string(to_string(r.ended_by));
    line["ms"] = r.ms.count();
    if (!r.error.empty()) line["error"] = r.error;
    if (!r.error.empty() && !r.came_up) ++result_.stream_errors;
    return line;
  }

  // The call ends: forks are ended and reported, then the summary line.
  void finish(const std::string& outcome) {
    if (finished_) return;
    finished_ = true;
    for (const auto& fork : hooks_.end_call()) step(stream_step(fork, fork_started_at_));
    result_.outcome = outcome;
    step(end_line(outcome));
  }

  nlohmann::json end_line(const std::string& outcome) const {
    nlohmann::json end{{"step", "end"}, {"at_ms", since_start()}, {"outcome", outcome}, {"documents", documents_}};
    end["error"] = result_.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(result_.error);
    if (result_.stream_errors > 0) end["stream_errors"] = result_.stream_errors;
    return end;
  }

  // The caller's recording ran out during a verb: the caller hangs up.
  void caller_hangs_up() {
    step({{"step", "caller_hangup"}, {"at_ms", since_start()}});
    finish("caller_hangup");
  }

  // ---- fetching -------------------------------------------------------------------------
  // Twilio's call fields: the first request (the voice URL) is made while the call rings.
  twilio::RequestParams call_params() const {
    return {{"AccountSid", options_.account_sid},
            {"ApiVersion", "2010-04-01"},
            {"CallSid", options_.call_sid},
            {"CallStatus", documents_ <= 1 ? "ringing" : "in-progress"},
            {"Called", options_.to},
            {"Caller", options_.from},
            {"Direction", "inbound"},
            {"From", options_.from},
            {"To", options_.to}};
  }

  XmlElement fetch(const std::string& url, const std::string& method, const twilio::RequestParams& extra) {
    FlowRequest request;
    request.method = method;
    auto params = call_params();
    params.insert(params.end(), extra.begin(), extra.end());
    if (method == "GET") {
      // Twilio puts a GET's parameters in the query and signs that URL alone.
      const auto fragment = url.find('#');
      request.url = url.substr(0, fragment);
      request.url += (request.url.find('?') == std::string::npos ? '?' : '&') + form_encode(params);
    } else {
      request.url = url.substr(0, url.find('#'));
      request.params = std::move(params);
    }
    if (!options_.auth_token.empty()) {
      request.headers["X-Twilio-Signature"] = twilio::compute_signature(options_.auth_token, request.url,
                                                                        request.params);
    }
    const auto at = since_start();
    const auto response = hooks_.fetch(request, options_.fetch_timeout);
    auto line = timed("fetch", at);
    line["url"] = url;
    line["method"] = method;
    line["status"] = response.status;
    for (const auto& [k, v] : extra) line[k == "Digits" ? "digits" : k == "FinishedOnKey" ? "finished_on_key" : k] = v;
    step(std::move(line));
    if (response.status == 0) throw FlowError(method + " " + url + ": " + response.error);
    if (response.status < 200 || response.status > 299) {
      throw FlowError(method + " " + url + " answered HTTP " + std::to_string(response.status));
    }
    XmlElement root;
    try {
      root = parse_xml(response.body);
    } catch (const std::runtime_error& e) {
      throw FlowError(method + " " + url + " (HTTP " + std::to_string(response.status) +
                      ") did not answer TwiML: " + e.what());
    }
    if (root.name != "Response") {
      throw FlowError(method + " " + url + " (HTTP " + std::to_string(response.status) + "): the root element is <" +
                      root.name + ">, not <Response>");
    }
    return root;
  }

  // ---- verbs ----------------------------------------------------------------------------
  Next play(const XmlElement& document) {
    // Documents that do nothing but redirect count towards the loop bound.
    const bool only_redirects = !document.children.empty() &&
                                std::all_of(document.children.begin(), document.children.end(),
                                            [](const XmlElement& e) { return e.name == "Redirect"; });
    redirect_run_ = only_redirects ? redirect_run_ + 1 : 0;
    if (redirect_run_ > options_.max_redirect_documents) {
      throw FlowError("a redirect loop: more than " + std::to_string(options_.max_redirect_documents) +
                      " documents in a row only <Redirect> (last: " + current_url_ + ")");
    }
    for (const auto& verb : document.children) {
      const auto next = play_verb(verb);
      if (next != Next::continue_verbs) return next;
    }
    return Next::continue_verbs;
  }

  Next play_verb(const XmlElement& verb) {
    const auto& name = verb.name;
    if (name == "Say" || name == "Play" || name == "Pause") return prompt(verb) ? Next::continue_verbs : Next::end;
    if (name == "Gather") return gather(verb);
    if (name == "Redirect") return redirect(verb);
    if (name == "Connect") return connect(verb);
    if (name == "Start") return start(verb);
    if (name == "Dial") return dial(verb);
    if (name == "Hangup") {
      step({{"step", "hangup"}, {"at_ms", since_start()}});
      finish("hangup");
      return Next::end;
    }
    if (name == "Reject") {
      step({{"step", "reject"}, {"at_ms", since_start()}, {"reason", verb.attribute("reason").value_or("rejected")}});
      finish("reject");
      return Next::end;
    }
    throw FlowError("unsupported TwiML verb <" + name + "> in " + current_url_);
  }

  // Waits as the prompt would take; false when the recording ran out meanwhile (the caller
  // hangs up: the caller's step, then caller_hangs_up()).
  // A <Pause> while a fork streams is always waited: it holds the call (serve's fork mode polls
  // after it), --skip-prompts or not.
  bool pace(milliseconds duration, bool pause = false) {
    if (duration.count() == 0) return true;
    if (options_.skip_prompts && !(pause && fork_running())) return true;
    return hooks_.wait(duration);
  }

  bool prompt(const XmlElement& e) {
    const auto at = since_start();
    nlohmann::json line{{"step", lowercase(e.name)}, {"at_ms", at}};
    milliseconds duration{0};
    if (e.name == "Pause") {
      const auto seconds = number_attribute(e, "length", 1, 0, 3600);
      line["length"] = seconds;
      duration = milliseconds(seconds * 1000);
    } else {
      // loop="0" repeats until the call moves on: played once here.
      const auto loops = static_cast<unsigned>(std::max(1L, number_attribute(e, "loop", 1, 0, 1000)));
      const auto text = trimmed(e.text);
      if (e.name == "Say") {
        line["text"] = text;
        line["voice"] = e.attribute("voice").value_or("");
        line["language"] = e.attribute("language").value_or("");
        duration = say_duration(options_, text, loops);
      } else {
        if (text.empty()) throw FlowError("<Play> without a URL");
        line["url"] = text;  // never fetched
        duration = options_.play_estimate * loops;
      }
      if (loops > 1) line["loop"] = loops;
    }
    if (!e.children.empty()) throw FlowError("<" + e.children.front().name + "> inside <" + e.name + ">");
    const bool on = pace(duration, e.name == "Pause");
    line["ms"] = since_start() - at;
    step(std::move(line));
    if (!on) caller_hangs_up();
    return on;
  }

  Next gather(const XmlElement& g) {
    const auto action = resolve_url(current_url_, g.attribute("action").value_or(current_url_));
    const auto method = method_attribute(g);
    const auto timeout = number_attribute(g, "timeout", 5, 1, 600);
    const auto num_digits = number_attribute(g, "numDigits", 0, 1, 1000);
    const auto finish_on_key = g.attribute("finishOnKey").value_or("#");
    if (finish_on_key.size() > 1 || finish_on_key.find_first_not_of("0123456789*#") != std::string::npos) {
      throw FlowError("<Gather> finishOnKey=\"" + finish_on_key + "\" is not one key of 0-9, # or *");
    }
    const auto input = g.attribute("input").value_or("dtmf");
    for (const auto& child : g.children) {
      if (child.name != "Say" && child.name != "Play" && child.name != "Pause") {
        throw FlowError("<" + child.name + "> inside <Gather> (only Say, Play and Pause)");
      }
      if (!prompt(child)) return Next::end;
    }
    const auto at = since_start();
    // The caller's next entry, typed key by key as Twilio reads it.
    std::string typed = next_entry_ < options_.digits.size() ? options_.digits[next_entry_] : std::string();
    const bool had_entry = next_entry_ < options_.digits.size();
    ++next_entry_;
    if (input.find("dtmf") == std::string::npos) typed.clear();  // speech only: keys are not heard
    std::string digits;
    std::string finished_on;
    for (const char key : typed) {
      if (!finish_on_key.empty() && key == finish_on_key[0]) {
        finished_on = finish_on_key;
        break;
      }
      digits += key;
      if (num_digits > 0 && digits.size() >= static_cast<std::size_t>(num_digits)) break;
    }
    nlohmann::json line{{"step", "gather"}, {"at_ms", at},     {"digits", digits}, {"finished_on_key", finished_on},
                        {"action", action}, {"method", method}};
    if (digits.empty()) {
      // Nothing typed: Twilio waits `timeout` seconds, then goes on with the verb after the
      // Gather (no actionOnEmptyResult).
      line["timed_out"] = true;
      if (!had_entry) line["no_entry_left"] = true;
      const bool on = !finished_on.empty() || pace(milliseconds(timeout * 1000));
      line["ms"] = since_start() - at;
      step(std::move(line));
      if (!on) {
        caller_hangs_up();
        return Next::end;
      }
      return Next::continue_verbs;
    }
    line["ms"] = since_start() - at;
    step(std::move(line));
    next_url_ = action;
    next_method_ = method;
    next_params_ = {{"Digits", digits}, {"FinishedOnKey", finished_on}};
    return Next::fetch;
  }

  Next redirect(const XmlElement& r) {
    const auto target = trimmed(r.text);
    if (target.empty()) throw FlowError("<Redirect> without a URL");
    if (!r.children.empty()) throw FlowError("<" + r.children.front().name + "> inside <Redirect>");
    next_url_ = resolve_url(current_url_, target);
    next_method_ = method_attribute(r);
    step({{"step", "redirect"}, {"at_ms", since_start()}, {"url", next_url_}, {"method", next_method_}});
    return Next::fetch;
  }

  StreamRequest stream_request(const XmlElement& parent, bool fork) {
    if (parent.children.size() != 1 || parent.children.front().name != "Stream") {
      const auto* other = parent.children.empty() ? nullptr : &parent.children.front();
      for (const auto& c : parent.children)
        if (c.name != "Stream") other = &c;
      if (!other) throw FlowError("<" + parent.name + "> without a <Stream>");
      if (other->name == "Stream") throw FlowError("<" + parent.name + "> with more than one <Stream>");
      throw FlowError("unsupported TwiML noun <" + other->name + "> inside <" + parent.name + ">");
    }
    const auto& s = parent.children.front();
    StreamRequest request;
    request.url = required(s, "url");
    const auto scheme = lowercase(request.url.substr(0, request.url.find(':')));
    if (scheme != "ws" && scheme != "wss")
      throw FlowError("<Stream> url=\"" + request.url + "\" is not ws:// or wss://");
    for (const auto& p : s.children) {
      if (p.name != "Parameter") throw FlowError("unsupported TwiML noun <" + p.name + "> inside <Stream>");
      request.parameters[required(p, "name")] = p.attribute("value").value_or("");
    }
    request.call_sid = options_.call_sid;
    request.account_sid = options_.account_sid;
    request.stream_sid = "MZ" + random_hex(32);
    request.fork = fork;
    return request;
  }

  Next connect(const XmlElement& c) {
    const auto method = method_attribute(c);
    const auto request = stream_request(c, false);
    const auto at = since_start();
    const auto r = hooks_.run_stream(request);
    step(stream_step(r, at));
    if (r.recording_ended) {
      caller_hangs_up();
      return Next::end;
    }
    // With an action, Twilio requests it when the stream ends; the verbs after </Connect> never run.
    if (const auto action = c.attribute("action")) {
      next_url_ = resolve_url(current_url_, *action);
      next_method_ = method;
      step({{"step", "action"},
            {"at_ms", since_start()},
            {"verb", "Connect"},
            {"url", next_url_},
            {"method", next_method_}});
      return Next::fetch;
    }
    return Next::continue_verbs;  // the server closed it, or it dropped: the verb after </Connect>
  }

  Next start(const XmlElement& s) {
    const auto request = stream_request(s, true);
    fork_started_at_ = since_start();
    fork_started_ = true;
    step({{"step", "start_stream"},
          {"at_ms", fork_started_at_},
          {"url", request.url},
          {"stream_sid", request.stream_sid}});
    hooks_.start_stream(request);
    return Next::continue_verbs;
  }

  Next dial(const XmlElement& d) {
    const auto at = since_start();
    std::vector<std::pair<std::string, std::string>> targets;  // to, kind
    for (const auto& noun : d.children) {
      if (noun.name == "Number") targets.emplace_back(trimmed(noun.text), "number");
      else if (noun.name == "Sip") targets.emplace_back(trimmed(noun.text), "sip");
      else throw FlowError("unsupported TwiML noun <" + noun.name + "> inside <Dial>");
      if (targets.back().first.empty()) throw FlowError("<" + noun.name + "> inside <Dial> without an address");
    }
    if (d.children.empty()) {
      const auto number = trimmed(d.text);
      if (number.empty()) throw FlowError("<Dial> without a number");
      targets.emplace_back(number, "number");
    }
    const auto method = method_attribute(d);
    for (const auto& [to, kind] : targets) step({{"step", "dial"}, {"at_ms", at}, {"to", to}, {"kind", kind}});
    // With an action, Twilio requests it when the dial ends and goes on with that document. The
    // dial is recorded, not placed: it "completed" at once.
    if (const auto action = d.attribute("action")) {
      next_url_ = resolve_url(current_url_, *action);
      next_method_ = method;
      next_params_ = {{"DialCallStatus", "completed"}, {"DialCallDuration", "0"}};
      step({{"step", "action"},
            {"at_ms", since_start()},
            {"verb", "Dial"},
            {"url", next_url_},
            {"method", next_method_}});
      return Next::fetch;
    }
    return Next::continue_verbs;  // not placed: the TwiML goes on after it
  }

  const CallFlowOptions& options_;
  CallFlowHooks& hooks_;
  const std::function<void(const nlohmann::json&)>& on_step_;
  Clock::time_point started_;
  CallFlowResult result_;
  std::string current_url_;
  std::string next_url_, next_method_;
  twilio::RequestParams next_params_;
  unsigned documents_ = 0;
  unsigned counted_documents_ = 0;  // against --max-documents: a fork's hold documents are not
  bool fork_started_ = false;       // a <Start><Stream> runs (until the recording ends)
  unsigned redirect_run_ = 0;
  std::size_t next_entry_ = 0;
  long long fork_started_at_ = 0;
  bool finished_ = false;
};

// ---- URLs -----------------------------------------------------------------------------------
struct UrlParts {
  std::string scheme, authority, path, query, fragment;
  bool has_authority = false, has_query = false, has_fragment = false;
};

UrlParts split_url(std::string_view url) {
  UrlParts p;
  const auto colon = url.find(':');
  const auto first_delimiter = url.find_first_of("/?#");
  if (colon != std::string_view::npos && colon > 0 &&
      (first_delimiter == std::string_view::npos || colon < first_delimiter)) {
    p.scheme = lowercase(std::string(url.substr(0, colon)));
    url.remove_prefix(colon + 1);
  }
  if (url.substr(0, 2) == "//") {
    p.has_authority = true;
    url.remove_prefix(2);
    const auto end = url.find_first_of("/?#");
    p.authority = std::string(url.substr(0, end));
    url.remove_prefix(end == std::string_view::npos ? url.size() : end);
  }
  if (const auto hash = url.find('#'); hash != std::string_view::npos) {
    p.has_fragment = true;
    p.fragment = std::string(url.substr(hash + 1));
    url = url.substr(0, hash);
  }
  if (const auto q = url.find('?'); q != std::string_view::npos) {
    p.has_query = true;
    p.query = std::string(url.substr(q + 1));
    url = url.substr(0, q);
  }
  p.path = std::string(url);
  return p;
}

std::string remove_dot_segments(std::string input) {
  std::string output;
  while (!input.empty()) {
    if (input.rfind("../", 0) == 0) input.erase(0, 3);
    // "./x" becomes "x", "/./x" becomes "/x".
    else if (input.rfind("./", 0) == 0 || input.rfind("/./", 0) == 0) input.erase(0, 2);
    else if (input == "/.") input = "/";
    else if (input.rfind("/../", 0) == 0 || input == "/..") {
      input = input == "/.." ? "/" : input.substr(3);
      const auto last = output.rfind('/');
      output.erase(last == std::string::npos ? 0 : last);
    } else if (input == "." || input == "..") input.clear();
    else {
      const auto next = input.find('/', input[0] == '/' ? 1 : 0);
      output += input.substr(0, next);
      input.erase(0, next == std::string::npos ? input.size() : next);
    }
  }
  return output;
}

}  // namespace

std::string_view to_string(StreamResult::EndedBy ended_by) {
  switch (ended_by) {
    case StreamResult::EndedBy::server: return "server";
    case StreamResult::EndedBy::caller: return "caller";
    case StreamResult::EndedBy::connection: return "connection";
  }
  return "connection";
}

std::vector<nlohmann::json> CallFlowResult::steps_named(std::string_view name) const {
  std::vector<nlohmann::json> out;
  for (const auto& s : steps)
    if (s.value("step", "") == name) out.push_back(s);
  return out;
}

CallFlowResult run_call_flow(const CallFlowOptions& options, CallFlowHooks& hooks,
                             const std::function<void(const nlohmann::json&)>& on_step) {
  return CallFlow(options, hooks, on_step).run();
}

std::string resolve_url(std::string_view base_text, std::string_view reference) {
  const auto r = split_url(reference);
  const auto base = split_url(base_text);
  UrlParts t;
  if (!r.scheme.empty()) {
    t = r;
    t.path = remove_dot_segments(r.path);
  } else {
    t.scheme = base.scheme;
    if (r.has_authority) {
      t.has_authority = true;
      t.authority = r.authority;
      t.path = remove_dot_segments(r.path);
      t.has_query = r.has_query;
      t.query = r.query;
    } else {
      t.has_authority = base.has_authority;
      t.authority = base.authority;
      if (r.path.empty()) {
        t.path = base.path;
        t.has_query = r.has_query || base.has_query;
        t.query = r.has_query ? r.query : base.query;
      } else {
        if (r.path[0] == '/') {
          t.path = remove_dot_segments(r.path);
        } else {
          // Merge: the base's path up to its last '/', then the reference.
          std::string merged;
          if (base.has_authority && base.path.empty()) merged = "/" + r.path;
          else {
            const auto slash = base.path.rfind('/');
            merged = (slash == std::string::npos ? std::string() : base.path.substr(0, slash + 1)) + r.path;
          }
          t.path = remove_dot_segments(merged);
        }
        t.has_query = r.has_query;
        t.query = r.query;
      }
    }
    t.has_fragment = r.has_fragment;
    t.fragment = r.fragment;
  }
  std::string out = t.scheme.empty() ? "" : t.scheme + ":";
  if (t.has_authority) out += "//" + t.authority;
  // A web URL with an authority always has a path.
  out += t.has_authority && t.path.empty() ? "/" : t.path;
  if (t.has_query) out += "?" + t.query;
  if (t.has_fragment) out += "#" + t.fragment;
  return out;
}

std::string form_encode(const twilio::RequestParams& params) {
  std::string body;
  for (const auto& [k, v] : params) {
    if (!body.empty()) body += '&';
    body += twilio::percent_encode(k, "-_.~") + "=" + twilio::percent_encode(v, "-_.~");
  }
  return body;
}

std::chrono::milliseconds say_duration(const CallFlowOptions& options, std::string_view text, unsigned loops) {
  std::size_t words = 0;
  bool in_word = false;
  for (const char c : text) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  const auto spoken = milliseconds(
      static_cast<long long>(static_cast<double>(words) * 60'000.0 / options.words_per_minute));
  return std::max(spoken, options.say_minimum) * std::max(1u, loops);
}

}  // namespace callproxy::testclient
