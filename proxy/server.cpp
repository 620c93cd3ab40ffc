// serve's wiring: one object owning everything a serve process has, built in dependency order,
// plus the signals (SIGHUP reloads PINs; SIGTERM/SIGINT drain) and the drain itself.
#include "proxy/server.h"

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

#include "net/asio_names.h"
#include "net/event_loops.h"
#include "net/fd_limit.h"
#include "net/listener.h"
#include "net/tls_context.h"
#include "proxy/callers/caller_routes.h"
#include "proxy/callers/pin_directory.h"
#include "proxy/callers/pin_reloader.h"
#include "proxy/callers/twiml_routes.h"
#include "proxy/http/connection_limits.h"
#include "proxy/http/http_session.h"
#include "proxy/http/media_gate.h"
#include "proxy/http/status_routes.h"
#include "proxy/media/backend_target.h"
#include "proxy/media/call_session.h"
#include "proxy/media/recording.h"
#include "proxy/metrics/metrics.h"
#include "proxy/store/counted_store.h"
#include "twilio/stream_token.h"

namespace callproxy::proxy {
namespace {

std::unique_ptr<StateStore> open_store_flag(const ServeOptions& options) {
  auto spec = parse_store_spec(options.store);
  if (!spec) throw std::invalid_argument(spec.error());
  if (auto* redis = std::get_if<StoreSpec::Redis>(&spec.value().kind)) {
    if (redis->password.empty()) redis->password = options.redis_password;
    redis->keys = options.redis_keys;
    redis->ca_file = options.redis_ca;
  }
  std::unique_ptr<StateStore> store;
  try {
    store = open_store(spec.value(), options.store_limits);
  } catch (const std::invalid_argument& e) {
    // A Redis spec fails here one way (its CA file); a SQLite one names its setting itself.
    if (std::holds_alternative<StoreSpec::Redis>(spec.value().kind)) {
      throw std::invalid_argument(std::string("--redis-ca: ") + e.what());
    }
    throw;
  }
  spdlog::info("state store: {}", store->describe());
  return store;
}

// The TLS files as they are now (names and contents), to tell a renewed certificate from an
// unchanged one; empty without TLS or when a file cannot be read (then the load says why).
std::string tls_files(const HttpOptions& options) {
  if (options.tls_cert.empty() || options.tls_key.empty()) return {};
  std::string all = options.tls_cert + '\0' + options.tls_key + '\0';
  for (const auto* path : {&options.tls_cert, &options.tls_key}) {
    std::ifstream file(*path, std::ios::binary);
    if (!file) return {};
    all.append(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    all += '\0';
  }
  return all;
}

// --tls-cert/--tls-key: serve https:// and wss:// directly.
std::shared_ptr<asio::ssl::context> server_tls_context(const HttpOptions& options) {
  if (options.tls_cert.empty() && options.tls_key.empty()) return nullptr;
  if (options.tls_cert.empty() || options.tls_key.empty()) {
    throw std::invalid_argument("--tls-cert and --tls-key go together");
  }
  return net::make_server_tls_context(options.tls_cert, options.tls_key);
}

// wss:// backends: the system CA store is loaded by the first call that needs it; --backend-ca
// is checked now.
std::unique_ptr<net::LazyClientTlsContext> backend_tls_context(const MediaOptions& options) {
  try {
    return std::make_unique<net::LazyClientTlsContext>(options.backend_ca);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--backend-ca: ") + e.what());
  }
}

// What no other part checks for itself, before anything is opened.
ServeOptions checked(ServeOptions options) {
  if (const auto problem = api_key_problem(options.callers.api_key); !problem.empty()) {
    throw std::invalid_argument(problem);
  }
  const auto& secret = options.media.stream_token_secret;
  if (!secret.empty() && secret.size() < twilio::min_stream_token_secret_chars) {
    throw std::invalid_argument("--stream-token-secret (CALLPROXY_STREAM_TOKEN_SECRET) must be at least " +
                                std::to_string(twilio::min_stream_token_secret_chars) +
                                " characters; the one given has " + std::to_string(secret.size()));
  }
  // A record: backend for every call needs somewhere to write; a call naming one is refused per call.
  if (options.media.record_dir.empty()) {
    for (const auto& entry : options.media.default_backends) {
      if (entry.rfind("record:", 0) == 0) {
        throw std::invalid_argument("--backend " + entry + ": a recording needs --record-dir (CALLPROXY_RECORD_DIR)");
      }
    }
  }
  if (options.media.default_backends.size() > options.media.max_backends_per_call) {
    throw std::invalid_argument("--backend names " + std::to_string(options.media.default_backends.size()) +
                                " backends, more than --max-backends-per-call (" +
                                std::to_string(options.media.max_backends_per_call) + ")");
  }
  // A network --backend the allowlist can never allow (one given only unix: folders, say) would
  // refuse every call that names no backends of its own: said now, not per call.
  for (const auto& entry : options.media.default_backends) {
    const auto target = parse_backend(entry);
    if (!target || target.value().record || !target.value().socket_path.empty()) continue;
    if (!options.media.backend_allowlist.may_allow(target.value().host, target.value().port)) {
      throw std::invalid_argument("--backend " + entry +
                                  " is not allowed by --backend-allow (CALLPROXY_BACKEND_ALLOW): add a pattern for it");
    }
  }
  return options;
}

// --record-dir, made 0700 if missing: the recordings' writer thread, or none.
std::unique_ptr<RecordingWriter> recording_writer(const MediaOptions& media, Metrics& metrics) {
  if (media.record_dir.empty()) return nullptr;
  const auto ready = prepare_record_dir(media.record_dir);
  if (!ready) throw std::invalid_argument(ready.error());
  if (::access(media.record_dir.c_str(), W_OK | X_OK) != 0) {
    spdlog::warn("--record-dir {}: not writable by serve now: recordings will fail (logged, counted) until it is",
                 media.record_dir);
  }
  spdlog::info("recordings: record: backends write under {}", media.record_dir);
  return std::make_unique<RecordingWriter>(media.record_dir, metrics);
}

// Every connection and backend link is a descriptor: the soft limit goes up to the hard one.
net::FdLimit raise_fd_limit() {
  auto limit = net::raise_fd_limit();
  if (!limit.error.empty()) {
    spdlog::warn("file descriptors: cannot raise the soft limit {} to the hard limit {}: {}", limit.soft, limit.hard,
                 limit.error);
  } else if (limit.soft != limit.soft_before) {
    spdlog::info("file descriptors: soft limit raised from {} to {} (the hard limit)", limit.soft_before, limit.soft);
  } else {
    spdlog::info("file descriptors: soft limit {} (hard limit {})", limit.soft, limit.hard);
  }
  return limit;
}

// --max-connections and --max-calls, given or derived from the descriptor limit.
DescriptorPlan plan_limits(const ServeOptions& options, const net::FdLimit& fds, std::size_t loops) {
  auto plan = plan_descriptors(fds.soft, loops, options.media.max_backends_per_call, options.http.max_connections,
                               options.http.max_calls);
  if (!plan) throw std::invalid_argument(plan.error());
  spdlog::info("limits: {} connections at once ({} more for health probes past that), {} calls",
               plan.value().max_connections, ConnectionLimits::probe_reserve, plan.value().max_calls);
  if (!plan.value().warning.empty()) spdlog::warn("limits: {}", plan.value().warning);
  return plan.value();
}

bool is_loopback(const std::string& bind) {
  error_code ec;
  const auto address = asio::ip::make_address(bind, ec);
  if (ec) return false;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback();
  }
  return address.is_loopback();
}

// Settings that leave serve open to anyone who reaches it: said loudly at start, before it listens.
void warn_about_exposure(const ServeOptions& options) {
  if (options.signatures.validate && options.signatures.public_url.empty()) {
    spdlog::warn("SECURITY: --validate-signatures without --public-url: the URL each signature is checked against is "
                 "rebuilt from the request's Host header, which the client chooses. A request Twilio signed for "
                 "another host under the same auth token is accepted here if it is replayed with that Host, and a "
                 "proxy in front that changes Host or the scheme makes every signature fail. Set --public-url to the "
                 "URL Twilio calls");
  }
  if (is_loopback(options.http.bind) || options.insecure_open_relay) return;
  if (!options.signatures.validate && options.media.backend_allowlist.empty()) {
    spdlog::warn("SECURITY: listening on {} without --validate-signatures and without --backend-allow. Anyone who "
                 "can reach this port can stream to /media (no Twilio signature is checked), and serve is an open "
                 "relay: each call names its own backends, so anyone can make serve connect to any host and port it "
                 "can reach. Set both for production; --insecure-open-relay runs like this without this warning",
                 options.http.bind);
  }
}

// SIGHUP's settings reload: read on a thread of its own (the config file may be slow to read; the
// loop that handles signals accepts every connection), then handed back to the loop, which puts
// it in place. One asked for while another reads runs after it, once (as PinReloader).
class SettingsReloader {
 public:
  using Work = std::function<std::function<void()>()>;  // on the thread; returns what the loop runs
  using PostToLoop = std::function<void(std::function<void()>)>;

  SettingsReloader(Work work, PostToLoop post) : work_(std::move(work)), post_(std::move(post)) {}
  ~SettingsReloader() {
    if (thread_.joinable()) thread_.join();
  }
  SettingsReloader(const SettingsReloader&) = delete;
  SettingsReloader& operator=(const SettingsReloader&) = delete;

  void request() {  // on the loop
    if (running_) {
      again_ = true;
      return;
    }
    if (thread_.joinable()) thread_.join();  // the last one has posted its result
    running_ = true;
    try {
      thread_ = std::thread([this] {
        std::function<void()> then;
        try {
          then = work_();
        } catch (const std::exception& e) {
          then = [what = std::string(e.what())] {
            spdlog::error("SIGHUP: settings not reloaded, all kept as they are: {}", what);
          };
        }
        try {
          post_([this, then = std::move(then)] {
            running_ = false;
            then();
            if (std::exchange(again_, false)) request();
          });
        } catch (const std::exception& e) {
          spdlog::error("SIGHUP: the settings read cannot be handed back: {}", e.what());
        }
      });
    } catch (const std::exception& e) {
      running_ = false;
      spdlog::error("SIGHUP: cannot start reading the settings: {}; all kept as they are", e.what());
    }
  }

 private:
  Work work_;
  PostToLoop post_;
  std::thread thread_;
  bool running_ = false;  // loop only
  bool again_ = false;    // loop only
};

}  // namespace

// Event-loop lag: a timer on each loop due every 100 ms records how late it ran. A loop busy with
// a burst of work (or starved of its core) runs it late, and so every call on it.
class LoopLagProbe {
 public:
  static constexpr std::chrono::milliseconds period{100};

  LoopLagProbe(asio::io_context& loop, LatencyHistogram& lag) : timer_(loop), lag_(lag) {
    due_ = std::chrono::steady_clock::now() + period;
    arm();
  }

 private:
  void arm() {
    timer_.expires_at(due_);
    timer_.async_wait([this](error_code ec) {
      if (ec) return;
      const auto now = std::chrono::steady_clock::now();
      lag_.observe(now - due_);
      due_ += period;
      if (due_ <= now) due_ = now + period;  // more than a period late: start again from now
      arm();
    });
  }

  asio::steady_timer timer_;
  LatencyHistogram& lag_;
  std::chrono::steady_clock::time_point due_;
};

struct Server::Impl {
  explicit Impl(ServeOptions o)
      : options(checked(std::move(o))),
        fds(raise_fd_limit()),
        signing(options.signatures),
        store(count_store_errors(open_store_flag(options), metrics.shared().store_errors)),
        backend_tls(backend_tls_context(options.media)),
        server_tls(server_tls_context(options.http)),
        recorder(recording_writer(options.media, metrics.shared())),
        calls{std::make_shared<const MediaOptions>(options.media),
              metrics,
              *store,
              registry,
              *backend_tls,
              recorder.get()},
        pins(options.callers.pins_file),
        budgets(options.callers.pin_budget),
        callers{options.callers, *store, pins, signing, budgets, metrics.shared()},
        twiml{callers, options.callers.twiml, options.media, options.signatures},
        plan(plan_limits(options, fds, net::EventLoops::count_for(options.threads))),
        limits(plan.max_connections, plan.max_calls, options.http.max_connections_per_source),
        loops(options.threads),
        pin_reloads(pins, [this](std::function<void()> task) { asio::post(loops.loop(0), std::move(task)); }),
        gate(signing, draining, limits, metrics.shared()),
        http{router, options.http, gate, calls, limits, metrics.shared(), server_tls.load() ? &server_tls : nullptr},
        listener(loops.loop(0), "serve"),
        signals(loops.loop(0), SIGINT, SIGTERM, SIGHUP),
        drain_timer(loops.loop(0)) {
    for (std::size_t i = 0; i < loops.size(); ++i) {
      metrics.add_loop(&loops.loop(i));
      lag_probes.push_back(std::make_unique<LoopLagProbe>(loops.loop(i), metrics.for_loop(&loops.loop(i)).loop_lag));
    }
    const auto& c = options.callers;
    if (!c.pin_api.empty()) {
      pin_api = std::make_unique<PinApi>(loops.loop(0), c.pin_api, c.pin_api_timeout);
      callers.pin_api = pin_api.get();
      spdlog::info("PINs the pins file does not know are checked with {}/identity-api/pin", c.pin_api);
    }
    if (pins.configured()) {
      spdlog::info("PINs: {} entr{} from {}", pins.size(), pins.size() == 1 ? "y" : "ies", c.pins_file);
    } else if (!pin_api) {
      spdlog::warn("no --pins-file and no --pin-api: every PIN is refused");
    }
    add_status_routes(router, draining, metrics, *store);
    add_caller_routes(router, callers);
    add_twiml_routes(router, twiml);
    if (!options.media.stream_token_secret.empty()) {
      spdlog::info("stream tokens: every stream must carry a valid token (valid {} s from the TwiML flow)",
                   options.media.stream_token_ttl.count());
    }
  }

  ~Impl() {
    // The store goes first, while the (stopped) loops and everything its pending callbacks use
    // still exist; what they post to the stopped loops is simply discarded. Calls destroyed with
    // the loops after it touch neither it nor their backends.
    loops.stop();
    calls.closing = true;
    store.reset();
  }

  void do_wait_signal() {
    signals.async_wait([this](error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        // Reload the settings and the PINs, read off this loop (it accepts every connection); a
        // bad file keeps what is in use.
        if (settings_reloads) settings_reloads->request();
        if (pins.configured()) pin_reloads.request();
        return do_wait_signal();
      }
      if (draining.exchange(true)) {
        spdlog::warn("second signal ({}): stopping now", signal);
        return finish();
      }
      spdlog::info("signal {}: draining (no new calls; up to {} ms for live calls)", signal,
                   options.drain_timeout.count());
      begin_drain();
      do_wait_signal();
    });
  }

  // On the reload's thread: the settings read again and checked as a whole, the TLS certificate
  // loaded; what loop 0 then runs to put them in place. Anything wrong keeps every setting.
  std::function<void()> read_settings() {
    auto read = read_settings_fn();
    if (!read) {
      return [why = read.error()] { spdlog::error("SIGHUP: settings not reloaded, all kept as they are: {}", why); };
    }
    auto reloaded = std::make_shared<ReloadedSettings>(std::move(read.value()));
    checked(reloaded->options);  // the new settings as read: throws std::invalid_argument, caught by the reloader
    // What will run: the running settings with the live ones replaced, checked as a whole too (new
    // default backends against the --record-dir and --max-backends-per-call still running, say).
    ServeOptions effective = options;
    effective.media = *calls.options.load();
    effective.media.default_backends = reloaded->options.media.default_backends;
    effective.media.backend_allowlist = reloaded->options.media.backend_allowlist;
    effective.media.start_timeout = reloaded->options.media.start_timeout;
    effective.http.tls_cert = reloaded->options.http.tls_cert;
    effective.http.tls_key = reloaded->options.http.tls_key;
    auto fresh = checked(effective);
    warn_about_exposure(fresh);  // an allowlist emptied live leaves serve as open as one never set
    // A renewed certificate (the same files, rewritten) or other files: loaded on every reload.
    std::shared_ptr<asio::ssl::context> tls;
    const bool tls_now = server_tls.load() != nullptr;
    const bool tls_new = !fresh.http.tls_cert.empty() || !fresh.http.tls_key.empty();
    // Loaded again only when the files changed (a reload for the pins file alone keeps the
    // context, and with it the clients' TLS session resumption).
    if (tls_now && tls_new) {
      auto files = tls_files(fresh.http);
      if (files.empty() || files != loaded_tls_files) {
        tls = server_tls_context(fresh.http);  // throws when they cannot be used: all is kept
        loaded_tls_files = std::move(files);
      }
    }
    const bool tls_restart = tls_now != tls_new;  // TLS turned on or off: the listener's kind changes
    auto media = std::make_shared<MediaOptions>(*calls.options.load());
    media->default_backends = fresh.media.default_backends;
    media->backend_allowlist = fresh.media.backend_allowlist;
    media->start_timeout = fresh.media.start_timeout;
    return [this, reloaded, media, tls, tls_restart] { apply_settings(*reloaded, media, tls, tls_restart); };
  }

  // On loop 0: one line per setting that changed, what was applied and what needs a restart.
  void apply_settings(const ReloadedSettings& reloaded, std::shared_ptr<const MediaOptions> media,
                      const std::shared_ptr<asio::ssl::context>& tls, bool tls_restart) {
    const auto level = spdlog::level::from_str(reloaded.log_level);
    calls.options.store(std::move(media));
    if (tls) server_tls.store(tls);
    for (const auto& key : reloaded.changed) {
      if (key == "log-level") {
        spdlog::info("SIGHUP: log-level changed to {}", reloaded.log_level);
      } else if ((key == "tls-cert" || key == "tls-key") && tls_restart) {
        spdlog::warn("SIGHUP: {} changed: TLS turned on or off needs a restart (keeping the old value)", key);
      } else if (is_live_setting(key)) {
        spdlog::info("SIGHUP: {} changed: applies to new {} (those running keep the old value)", key,
                     key.rfind("tls-", 0) == 0 ? "connections" : "calls");
      } else {
        spdlog::warn("SIGHUP: {} changed: needs a restart (keeping the old value)", key);
      }
    }
    spdlog::set_level(level);  // after the lines above: a quieter level still shows what changed
    if (tls) {
      spdlog::info("SIGHUP: TLS certificate reloaded from {}: new connections use it", reloaded.options.http.tls_cert);
    }
    // Silent at info: a reload for the pins file alone (the usual one) logs its own line.
    if (reloaded.changed.empty()) spdlog::debug("SIGHUP: settings read again, none changed");
    if (reloaded.applied) reloaded.applied();
  }

  void begin_drain() {
    draining = true;
    drain_deadline = std::chrono::steady_clock::now() + options.drain_timeout;
    // --drain-handover: each call's stream is closed now, and the call flow's after-stream step
    // reconnects it, through the load balancer, to an instance that stays (this one refuses new
    // streams). This one keeps answering HTTP a while, for the flow's requests the balancer sends
    // here. Without it, calls get the drain timeout to end by themselves.
    if (options.drain_handover && registry.size() > 0) {
      calls_told_to_end = true;
      handover_until = std::chrono::steady_clock::now() +
                       std::min<std::chrono::milliseconds>(drain_handover_grace, options.drain_timeout);
      spdlog::info("drain: handing {} live call{} over (--drain-handover)", registry.size(),
                   registry.size() == 1 ? "" : "s");
      registry.shut_down_all(true);
    }
    wait_for_calls();
  }

  // Polls the live calls (a drain is rare; 100 ms is plenty): done when none is left; at the
  // deadline the rest are closed with 1001 "server shutting down", and get 2 s to go.
  void wait_for_calls() {
    const auto live = registry.size();
    const auto now = std::chrono::steady_clock::now();
    // Calls that ended may still be handing their last audio and the stop to their backends.
    const auto links = metrics.backend_links();
    if (live == 0 && now >= handover_until && (links == 0 || now >= drain_deadline + std::chrono::seconds(2))) {
      return finish();
    }
    if (now >= drain_deadline + std::chrono::seconds(2)) {
      spdlog::warn("drain: {} call{} did not end: stopping anyway", live, live == 1 ? "" : "s");
      return finish();
    }
    if (now >= drain_deadline && !calls_told_to_end) {
      calls_told_to_end = true;
      spdlog::warn("drain timeout: closing {} live call{}", live, live == 1 ? "" : "s");
      registry.shut_down_all();
    }
    drain_timer.expires_after(std::chrono::milliseconds(100));
    drain_timer.async_wait([this](error_code ec) {
      if (!ec) wait_for_calls();
    });
  }

  void finish() {
    error_code ignored;
    listener.close();
    signals.cancel(ignored);
    drain_timer.cancel();
    loops.stop();
  }

  ServeOptions options;
  net::FdLimit fds;
  RequestSigning signing;
  std::atomic<bool> draining{false};  // readiness reports it; the gate refuses new calls
  ServerMetrics metrics;              // a shard per loop (added once the loops exist)
  CallRegistry registry;
  std::unique_ptr<StateStore> store;
  std::unique_ptr<net::LazyClientTlsContext> backend_tls;
  // With --tls-cert: what new connections are given; SIGHUP swaps in a renewed certificate.
  std::atomic<std::shared_ptr<asio::ssl::context>> server_tls;
  std::string loaded_tls_files = tls_files(options.http);  // what server_tls was made from (the reload's thread's)
  std::unique_ptr<RecordingWriter> recorder;  // with --record-dir; outlives the loops (declared before them)
  CallContext calls;
  PinDirectory pins;
  PinFailureBudgets budgets;
  CallerApi callers;
  TwimlApi twiml;
  Router router;
  std::chrono::steady_clock::time_point drain_deadline{};
  bool calls_told_to_end = false;
  std::chrono::steady_clock::time_point handover_until{};  // --drain-handover: HTTP answered until then
  static constexpr std::chrono::milliseconds drain_handover_grace{5000};
  DescriptorPlan plan;
  // Before the loops: what their connections and calls hold (leases, lingering sockets' places
  // included) is given back while the loops' pending handlers are destroyed.
  ConnectionLimits limits;
  net::EventLoops loops;
  PinReloader pin_reloads;  // after the loops and the pins: waits for a reload still reading before either goes
  MediaGate gate;
  HttpContext http;
  net::Listener listener;
  asio::signal_set signals;
  asio::steady_timer drain_timer;
  std::vector<std::unique_ptr<LoopLagProbe>> lag_probes;  // after the loops: gone before them
  std::unique_ptr<PinApi> pin_api;
  ReadSettings read_settings_fn;                       // set by reload_settings_with()
  std::unique_ptr<SettingsReloader> settings_reloads;  // last: waits for a reading still running
};

Server::Server(ServeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() = default;

std::uint16_t Server::listen() {
  const auto& o = impl_->options.http;
  warn_about_exposure(impl_->options);
  std::uint16_t port = 0;
  try {
    port = impl_->listener.listen(o.bind, o.port);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());  // serve has always exited 1 for an address it cannot take
  }
  spdlog::info("listening on {}:{} ({} event loop{}{})", o.bind, port, impl_->loops.size(),
               impl_->loops.size() == 1 ? "" : "s", impl_->server_tls.load() ? ", TLS" : "");
  return port;
}

void Server::reload_settings_with(ReadSettings read) {
  impl_->read_settings_fn = std::move(read);
  impl_->settings_reloads = std::make_unique<SettingsReloader>(
      [impl = impl_.get()] { return impl->read_settings(); },
      [impl = impl_.get()](std::function<void()> task) { asio::post(impl->loops.loop(0), std::move(task)); });
}

void Server::run() {
  // Each new connection goes to the next loop and stays there.
  impl_->listener.start(
      [impl = impl_.get()]() -> asio::io_context& { return impl->loops.next(); },
      [impl = impl_.get()](net::LoopSocket socket) { accept_http_connection(std::move(socket), impl->http); });
  impl_->do_wait_signal();
  impl_->loops.run();
  spdlog::info("stopped");
}

void Server::stop() {
  asio::post(impl_->loops.loop(0), [impl = impl_.get()] {
    if (!impl->draining.exchange(true)) impl->begin_drain();
  });
}

}  // namespace callproxy::proxy
