// callproxy client-test: plays Twilio's part of a call against a proxy.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "assets/sample_call.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/finite_range.h"
#include "core/random_hex.h"
#include "testclient/client_test_options.h"
#include "twilio/audio_file.h"

namespace callproxy::cli {
namespace {

struct ClientTestFlags {
  testclient::ClientTestOptions options;
  std::string wav;
  std::chrono::milliseconds every{10'000};
  bool once = false;
  std::chrono::milliseconds duration{0};
  std::string backend_hosts = R"(["localhost:8888"])";
  std::string backend_ids = "[1]";
  std::vector<std::string> params;
  std::string execution_id;
  std::vector<std::string> dtmf;
  testclient::CallFlowOptions flow;
  std::vector<std::string> digits;
};

// --digits values: each a comma-separated list of entries, one per <Gather> ("1234#,,0000#").
std::vector<std::string> gather_entries(const std::vector<std::string>& values) {
  std::vector<std::string> entries;
  for (const auto& value : values) {
    std::size_t begin = 0;
    while (true) {
      const auto comma = value.find(',', begin);
      entries.push_back(value.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin));
      if (comma == std::string::npos) break;
      begin = comma + 1;
    }
  }
  return entries;
}

int run(ClientTestFlags& flags, const CLI::App& app) {
  auto& options = flags.options;
  // The audio: a file, or the sample call built into the binary.
  auto audio = flags.wav.empty() ? twilio::read_call_audio(assets::sample_call_wav(), "the bundled sample call")
                                 : twilio::read_call_audio(flags.wav);
  if (!audio) {
    std::cerr << "callproxy client-test: --wav: " << audio.error() << "\n";
    return exit_usage;
  }
  options.audio = std::move(audio.value());
  options.audio_name = flags.wav.empty() ? "sample call" : flags.wav;

  options.custom_parameters["backendHosts"] = flags.backend_hosts;
  options.custom_parameters["backendIds"] = flags.backend_ids;
  if (!flags.execution_id.empty()) options.custom_parameters["executionId"] = flags.execution_id;
  for (const auto& p : flags.params) {
    const auto eq = p.find('=');
    options.custom_parameters[p.substr(0, eq)] = p.substr(eq + 1);
  }
  for (const auto& d : flags.dtmf) {
    const auto at = d.find('@');
    const double seconds = std::stod(d.substr(at + 1));
    for (const char digit : d.substr(0, at)) {
      options.dtmf.push_back({digit, std::chrono::milliseconds(static_cast<long long>(seconds * 1000))});
    }
  }
  std::stable_sort(options.dtmf.begin(), options.dtmf.end(), [](const auto& a, const auto& b) { return a.at < b.at; });

  if (options.sign_url.empty()) {
    // Twilio signs the stream's wss:// URL; a local ws:// URL stands for it.
    options.sign_url = options.url.rfind("ws://", 0) == 0 ? "wss://" + options.url.substr(5) : options.url;
  }
  options.every = flags.every;
  options.duration = flags.duration;
  if (app.count("--flow") > 0 && flags.flow.url.empty()) {
    std::cerr << "callproxy client-test: --flow: the voice URL is empty\n";
    return exit_usage;
  }
  if (!flags.flow.url.empty()) {
    auto flow = flags.flow;
    flow.auth_token = options.auth_token;
    flow.digits = gather_entries(flags.digits);
    if (flow.call_sid.empty()) flow.call_sid = "CA" + random_hex(32);
    if (flow.account_sid.empty()) flow.account_sid = "AC" + random_hex(32);
    options.mode = testclient::ClientTestOptions::Mode::once;
    return testclient::run_call_flow_test(options, flow);
  }
  if (flags.once) options.mode = testclient::ClientTestOptions::Mode::once;
  else if (app.count("--calls") > 0 || app.count("--duration") > 0)
    options.mode = testclient::ClientTestOptions::Mode::load;
  return testclient::run_client_test(options);
}

}  // namespace

RunFunction setup_client_test(CLI::App& parent) {
  auto flags = std::make_shared<ClientTestFlags>();
  auto& options = flags->options;
  auto* app = parent.add_subcommand(
      "client-test",
      "Replay a recorded call exactly as Twilio streams it: once, every N seconds, or as N concurrent calls; "
      "or (--flow) play a whole call: the voice webhook, its TwiML and the streams it opens");
  app->add_option("--url", options.url, "The proxy's media URL (ws:// or wss://)")->capture_default_str();
  app->add_option("--wav", flags->wav, "Call audio: any WAV (converted to 8 kHz mu-law); default: the bundled sample")
      ->check(CLI::ExistingFile);
  auto* every = add_duration(*app, "--every", [flags](std::chrono::milliseconds value) { flags->every = value; }, "",
                             "Start a call every DURATION, until interrupted (default 10)", {0.05, 86400});
  auto* once = app->add_flag("--once", flags->once, "One call; exit 0 if it streamed to its end, 1 otherwise");
  once->excludes(every);
  auto* calls =
      app->add_option("--calls", options.calls, "Concurrent calls (load mode)")->check(CLI::Range(1u, 100000u));
  auto* duration = add_duration(*app, "--duration",
                                [flags](std::chrono::milliseconds value) { flags->duration = value; }, "",
                                "How long each call streams (loops the audio)", {0.02, 86400});
  calls->excludes(once)->excludes(every);
  duration->excludes(every);
  auto* hosts = app->add_option("--backend-hosts", flags->backend_hosts,
                                "customParameters.backendHosts: a JSON array of backends")
                    ->capture_default_str();
  app->add_option("--param", flags->params, "A custom parameter KEY=VALUE (repeatable)")
      ->check([](const std::string& p) {
        return p.find('=') == std::string::npos ? "expected KEY=VALUE, got '" + p + "'" : std::string();
      });
  (void)hosts;
  app->add_option("--backend-ids", flags->backend_ids,
                  "customParameters.backendIds: a JSON array, as /validate-pin answers it (demo PIN 1234's)")
      ->capture_default_str();
  app->add_option("--execution-id", flags->execution_id,
                  "customParameters.executionId (Studio's execution; default: a new FN... SID per call)");
  app->add_option("--auth-token", options.auth_token,
                  "Sign the handshake (and --flow's webhooks) with this Twilio auth token")
      ->envname("TWILIO_AUTH_TOKEN");
  app->add_option("--ca-file", options.ca_file,
                  "wss:// and https://: also trust this CA certificate (PEM), e.g. a test CA")
      ->check(CLI::ExistingFile);
  app->add_option("--sign-url", options.sign_url, "The URL the signature covers (default: --url as wss://)");
  app->add_option("--dtmf", flags->dtmf, "Press DIGITS at SECONDS into the call, e.g. 12#@2.5 (repeatable)")
      ->check([](const std::string& d) {
        const auto at = d.find('@');
        if (at == std::string::npos || at == 0) return "expected DIGITS@SECONDS, got '" + d + "'";
        if (d.substr(0, at).find_first_not_of("0123456789*#") != std::string::npos) {
          return "DTMF digits are 0-9, * and #, got '" + d.substr(0, at) + "'";
        }
        return check_finite_in_range(d.substr(at + 1), 0.0, 86400.0);  // as every floating-point setting
      });
  app->add_option("--save-replies", options.save_replies, "Write the audio sent back to the caller to FILE.wav");
  app->add_flag("--json", options.json, "Print a JSON summary per call");
  app->add_flag("!--no-pace", options.pace, "Send frames as fast as possible instead of in real time");

  // --flow: a whole call, as Twilio places it (docs/tools.md).
  auto& flow = flags->flow;
  auto* flow_url = app->add_option("--flow", flow.url,
                                   "Play a whole call: POST this voice URL (http:// or https://) as Twilio does and "
                                   "follow the TwiML; one JSON line per step");
  app->add_option("--from", flow.from, "--flow: the caller's number (From, Caller); 'anonymous' withholds it")
      ->capture_default_str();
  app->add_option("--to", flow.to, "--flow: the number called (To, Called)")->capture_default_str();
  app->add_option("--call-sid", flow.call_sid, "--flow: CallSid (default: a new CA... SID)");
  app->add_option("--account-sid", flow.account_sid, "--flow: AccountSid (default: a new AC... SID)");
  app->add_option("--digits", flags->digits,
                  "--flow: what the caller types at each <Gather>, in order; repeatable and/or comma-separated "
                  "(1234#,,0000: an empty entry types nothing)")
      ->allow_extra_args(false)
      ->check([](const std::string& d) {
        return d.find_first_not_of("0123456789*#,") == std::string::npos
                   ? std::string()
                   : "digits are 0-9, * and # (entries separated by ','), got '" + d + "'";
      });
  app->add_flag("--skip-prompts", flow.skip_prompts,
                "--flow: do not wait for <Say>, <Play>, <Pause> nor a <Gather>'s timeout (stream frames keep "
                "their pacing; a <Pause> while a <Start><Stream> fork runs is waited all the same)");
  add_duration(*app, "--webhook-timeout",
               [flags](std::chrono::milliseconds value) { flags->flow.fetch_timeout = value; }, "",
               "--flow: how long a webhook may take to answer (default 15, as Twilio)", {0.05, 600});
  app->add_option("--max-documents", flow.max_documents, "--flow: the most TwiML documents one call fetches")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10000u));
  app->add_option("--max-redirects", flow.max_redirect_documents,
                  "--flow: the most documents in a row that only <Redirect> (a redirect loop)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10000u));
  flow_url->excludes(every)
      ->excludes(calls)
      ->excludes(app->get_option("--url"))
      ->excludes(app->get_option("--sign-url"))
      ->excludes(app->get_option("--save-replies"))
      ->excludes(app->get_option("--json"))
      ->excludes(hosts)
      ->excludes(app->get_option("--backend-ids"))
      ->excludes(app->get_option("--param"))
      ->excludes(app->get_option("--execution-id"));
  return [flags, app] { return run(*flags, *app); };
}

}  // namespace callproxy::cli
