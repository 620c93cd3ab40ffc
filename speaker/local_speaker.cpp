// The speaker on Beast: a WebSocket server for the proxy's backend streams, a mixer, and an
// output thread that plays the mix (paced by the device, or by the clock for files).

#include "speaker/local_speaker.h"

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <iostream>
#include <optional>
#include <thread>

#include <sys/stat.h>
#include <unistd.h>

#include "audio/shape_converter.h"
#include "core/fault_injection.h"
#include "net/asio_names.h"
#include "net/listener.h"
#include "net/write_queue.h"
#include "speaker/audio_output.h"
#include "speaker/backend_event.h"
#include "speaker/mixer.h"
#include "twilio/backend_protocol.h"
#include "twilio/base64.h"
#include "twilio/mulaw.h"

namespace callproxy::speaker {
namespace {

constexpr int sample_rate = 8000;
constexpr std::size_t chunk = 160;  // 20 ms

// Plays the mixer's output: on the device continuously (silence between calls), into files
// while calls are live.
class Player {
 public:
  Player(Mixer& mixer, std::unique_ptr<AudioSink> device, std::vector<std::unique_ptr<AudioSink>> recorders)
      : mixer_(mixer), device_(std::move(device)), recorders_(std::move(recorders)) {}

  // On every way out of the speaker, an exception included: the playing thread is stopped and
  // joined (a joinable std::thread destroyed would end the process), the sinks then closed.
  ~Player() { halt(); }
  Player(const Player&) = delete;
  Player& operator=(const Player&) = delete;

  void start() {
    thread_ = std::thread([this] { loop(); });
  }

  // Plays what is still buffered (bounded), lets the device's tail out, and stops.
  void stop() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (mixer_.active() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    halt();
    if (device_) device_->finish();
  }

 private:
  void halt() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }

  void loop() {
    std::vector<std::int16_t> samples(chunk);
    auto next = std::chrono::steady_clock::now();
    while (running_) {
      const bool live = mixer_.active();
      mixer_.mix(samples);
      if (device_) device_->write(samples);  // blocks at the playback rate
      if (live) {
        for (auto& r : recorders_) r->write(samples);
      }
      if (!device_) {
        next += std::chrono::milliseconds(20);
        std::this_thread::sleep_until(next);
      }
    }
  }

  Mixer& mixer_;
  std::unique_ptr<AudioSink> device_;
  std::vector<std::unique_ptr<AudioSink>> recorders_;
  std::atomic<bool> running_{true};
  std::thread thread_;
};

// --socket: a Unix socket's listener. A socket file left by an earlier run is replaced; any
// other file at the path is an error. The file is removed when the speaker stops.
class UnixListener {
 public:
  explicit UnixListener(asio::io_context& loop) : acceptor_(loop) {}
  ~UnixListener() { close(); }
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;

  void listen(const std::string& path) {
    if (path.size() > 107) throw std::invalid_argument("--socket " + path + ": longer than 107 bytes");
    const asio::local::stream_protocol::endpoint where(path);
    error_code ec;
    struct stat existing {};
    if (::lstat(path.c_str(), &existing) == 0) {
      if (!S_ISSOCK(existing.st_mode)) throw std::invalid_argument("--socket " + path + ": a file that is no socket");
      // Left by a run that ended; one that still answers belongs to a live process.
      asio::local::stream_protocol::socket probe(acceptor_.get_executor());
      probe.connect(where, ec);
      if (!ec) throw std::runtime_error("--socket " + path + ": another process listens on it");
      ::unlink(path.c_str());
      ec.clear();
    }
    acceptor_.open(where.protocol(), ec);
    if (!ec) acceptor_.bind(where, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on unix:" + path + ": " + ec.message());
    path_ = path;
  }

  void start(std::function<void(asio::generic::stream_protocol::socket)> on_accept) {
    on_accept_ = std::move(on_accept);
    accept();
  }

  void close() {
    error_code ignored;
    acceptor_.close(ignored);
    if (!path_.empty()) ::unlink(path_.c_str());
    path_.clear();
  }

 private:
  void accept() {
    acceptor_.async_accept([this](error_code ec, asio::local::stream_protocol::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        on_accept_(asio::generic::stream_protocol::socket(std::move(socket)));
        return accept();
      }
      // Out of descriptors, say: try again shortly rather than spin.
      spdlog::warn("local-speaker: accept on unix:{}: {}", path_, ec.message());
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([this](error_code ec) {
        if (!ec) accept();
      });
    });
  }

  asio::local::stream_protocol::acceptor acceptor_;
  asio::steady_timer retry_{acceptor_.get_executor()};
  std::string path_;
  std::function<void(asio::generic::stream_protocol::socket)> on_accept_;
};

struct SpeakerContext {
  const LocalSpeakerOptions& options;
  Mixer& mixer;
  std::uint64_t next_stream = 0;
};

class StreamSession : public std::enable_shared_from_this<StreamSession> {
 public:
  // A TCP connection or a Unix socket's: either moves into a socket of any family.
  using Socket = asio::generic::stream_protocol::socket;
  using Stream = beast::basic_stream<asio::generic::stream_protocol>;
  StreamSession(Socket&& socket, SpeakerContext& context) : stream_(std::move(socket)), context_(context) {}

  void run() {
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, request_,
                     beast::bind_front_handler(&StreamSession::on_request, shared_from_this()));
  }

 private:
  void on_request(error_code ec, std::size_t) {
    if (ec) return;
    const std::string_view target = request_.target();
    const auto path = target.substr(0, target.find('?'));
    if (path != context_.options.path || !websocket::is_upgrade(request_)) {
      auto res = std::make_shared<http::response<http::string_body>>(
          path != context_.options.path ? http::status::not_found : http::status::upgrade_required, request_.version());
      res->body() = path != context_.options.path ? "streams go to " + context_.options.path + "\n"
                                                  : "expected a WebSocket upgrade\n";
      res->prepare_payload();
      res->keep_alive(false);
      http::async_write(stream_, *res, [self = shared_from_this(), res](error_code, std::size_t) {
        error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      });
      return;
    }
    stream_.expires_never();
    ws_.emplace(std::move(stream_));
    ws_->set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_->read_message_max(context_.options.max_message_bytes);
    ws_->async_accept(request_, beast::bind_front_handler(&StreamSession::on_accept, shared_from_this()));
  }

  void on_accept(error_code ec) {
    if (ec) return;
    id_ = ++context_.next_stream;
    name_ = "#" + std::to_string(id_);
    context_.mixer.open(id_, name_);
    spdlog::info("stream {} connected", name_);
    buffer_.consume(buffer_.size());
    do_read();
  }

  void do_read() { ws_->async_read(buffer_, beast::bind_front_handler(&StreamSession::on_read, shared_from_this())); }

  void on_read(error_code ec, std::size_t) {
    if (ec) {
      if (!stopped_) context_.mixer.close(id_);
      if (ec != websocket::error::closed) spdlog::info("stream {} lost: {}", name_, ec.message());
      return;
    }
    // A stream in binary frames (frames=binary) sends its audio as binary messages; otherwise JSON
    // comes in text or binary frames alike (the Node service sent binary).
    if (ws_->got_binary() && binary_audio_) {
      const auto data = buffer_.cdata();
      const std::string_view text(static_cast<const char*>(data.data()), data.size());
      // JSON in a binary frame (as the Node service sent it) still reads as JSON.
      auto event = text.size() > 1 && text.front() == '{' && text.back() == '}' ? decode_backend_message(text)
                                                                                : Result<BackendEvent>(Error{""});
      if (event) {
        buffer_.consume(buffer_.size());
        on_event(event.value());
        return do_read();
      }
      const auto* begin = reinterpret_cast<const std::uint8_t*>(text.data());
      on_audio(std::vector<std::uint8_t>(begin, begin + text.size()), true);
      buffer_.consume(buffer_.size());
      return do_read();
    }
    auto event = decode_backend_message(beast::buffers_to_string(buffer_.data()));
    buffer_.consume(buffer_.size());
    if (!event) {
      ++bad_messages_;
      spdlog::warn("stream {}: ignoring a message: {}", name_, event.error());
    } else {
      on_event(event.value());
    }
    do_read();
  }

  void on_event(BackendEvent& event) {
    using Kind = BackendEvent::Kind;
    testing::fault_point(testing::FaultPoint::speaker_message);
    switch (event.kind) {
      case Kind::start:
        if (!event.stream_sid.empty()) {
          name_ = event.stream_sid;
          context_.mixer.rename(id_, name_);
        }
        start_audio(event.format);
        schedule_sends();
        break;
      case Kind::media:
        if (stopped_) break;
        if (!shaped_) {
          context_.mixer.push(id_, event.pcm);
          if (context_.options.echo) reply(twilio::write_simple_media(event.payload), false);
          break;
        }
        on_audio(std::move(event.bytes), false);
        break;
      case Kind::stop:
        spdlog::info("stream {} stopped", name_);
        stopped_ = true;
        context_.mixer.close(id_);
        break;
      case Kind::dtmf: spdlog::info("stream {}: DTMF", name_); break;
      default: break;
    }
  }

  // What the stream's start says it carries (docs/serve.md, "Audio shapes"): Twilio's 8 kHz mu-law,
  // or 16-bit PCM at 8, 16 or 24 kHz, mono or stereo; said in the log, and played at 8 kHz (a
  // stereo stream mixed down). Anything else is played as mu-law, with a warning.
  void start_audio(const twilio::MediaFormat& format) {
    rate_ = format.sample_rate;
    channels_ = format.channels;
    shaped_ = format.encoding == "audio/x-l16";
    const bool known_rate = rate_ == 8000 || rate_ == 16000 || rate_ == 24000;
    if ((format.encoding != "audio/x-mulaw" && !shaped_) || !known_rate || channels_ < 1 || channels_ > 2 ||
        (!shaped_ && (rate_ != 8000 || channels_ != 1))) {
      spdlog::warn("stream {} started: {} at {} Hz, {} channel(s) is not a shape this speaker plays: playing it as "
                   "8 kHz mu-law",
                   name_, format.encoding, format.sample_rate, format.channels);
      shaped_ = false;
      rate_ = 8000;
      channels_ = 1;
    } else {
      spdlog::info("stream {} started: {} at {} Hz, {} channel{}", name_, shaped_ ? "16-bit PCM" : "mu-law", rate_,
                   channels_, channels_ == 1 ? "" : "s");
    }
    to_8k_.reset();
    if (shaped_ && rate_ != 8000) to_8k_.emplace(rate_, 8000);
    binary_audio_ = true;  // a shaped stream may send its audio as binary frames
  }

  // Audio in the stream's shape: to the mixer at 8 kHz, and back as it came with --echo (mono only:
  // a primary answers in mono).
  void on_audio(std::vector<std::uint8_t> bytes, bool binary) {
    if (stopped_) return;
    if (binary && !said_binary_) {
      said_binary_ = true;
      spdlog::info("stream {}: audio in binary frames", name_);
    }
    std::vector<std::int16_t> pcm;
    if (!shaped_) {
      pcm.resize(bytes.size());
      twilio::mulaw_decode(bytes, pcm);
    } else {
      const auto frame = static_cast<std::size_t>(channels_) * 2;
      for (std::size_t at = 0; at + frame <= bytes.size(); at += frame) {
        int sum = 0;
        for (int c = 0; c < channels_; ++c) {
          sum += static_cast<std::int16_t>(bytes[at + 2 * static_cast<std::size_t>(c)] |
                                           (bytes[at + 2 * static_cast<std::size_t>(c) + 1] << 8));
        }
        pcm.push_back(static_cast<std::int16_t>(sum / channels_));
      }
      if (to_8k_) {
        std::vector<std::int16_t> eight;
        to_8k_->process(pcm, eight);
        pcm.swap(eight);
      }
    }
    context_.mixer.push(id_, pcm);
    if (!context_.options.echo || channels_ != 1) return;
    if (binary) {
      reply(std::string(bytes.begin(), bytes.end()), true);
    } else {
      reply(twilio::write_simple_media(twilio::base64_encode(bytes)), false);
    }
  }

  // --send: each message once, its time after the start.
  void schedule_sends() {
    for (const auto& send : context_.options.sends) {
      auto timer = std::make_shared<asio::steady_timer>(ws_->get_executor());
      timer->expires_after(send.at);
      timer->async_wait([self = shared_from_this(), timer, text = send.text](error_code ec) {
        if (ec || self->stopped_ || self->write_failed_) return;
        spdlog::info("stream {}: sending {}", self->name_, text);
        self->reply(text, false);
      });
      send_timers_.push_back(timer);
    }
  }

  void reply(std::string text, bool binary) {
    if (write_failed_) return;
    const auto bytes = text.size();
    if (!outgoing_.push(Outgoing{std::move(text), binary}, bytes)) {
      // The proxy is not taking the echo as fast as it comes: drop it rather than grow.
      if (dropped_replies_++ == 0)
        spdlog::warn("stream {}: the proxy is not reading the echo: dropping replies", name_);
      return;
    }
    if (!writing_) do_write();
  }

  void do_write() {
    writing_ = true;
    ws_->binary(outgoing_.front().binary);
    ws_->async_write(asio::buffer(outgoing_.front().bytes), [self = shared_from_this()](error_code ec, std::size_t) {
      self->writing_ = false;
      self->outgoing_.pop();
      if (ec) {
        self->write_failed_ = true;  // the read side ends the stream; nothing more is queued
        self->outgoing_.clear();
        return;
      }
      if (!self->outgoing_.empty()) self->do_write();
    });
  }

  Stream stream_;
  std::optional<websocket::stream<Stream>> ws_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  SpeakerContext& context_;
  struct Outgoing {
    std::string bytes;
    bool binary = false;
  };
  net::WriteQueue<Outgoing> outgoing_;  // the echo, bounded
  bool shaped_ = false;                 // 16-bit PCM (else mu-law)
  bool binary_audio_ = false;           // binary messages are audio (after a start)
  bool said_binary_ = false;
  int rate_ = 8000, channels_ = 1;
  std::optional<audio::Resampler> to_8k_;
  std::uint64_t dropped_replies_ = 0;
  std::vector<std::shared_ptr<asio::steady_timer>> send_timers_;  // --send's
  Mixer::StreamId id_ = 0;
  std::string name_;
  std::uint64_t bad_messages_ = 0;
  bool stopped_ = false;
  bool writing_ = false;
  bool write_failed_ = false;
};

void print_devices() {
  auto devices = list_output_devices();
  if (!devices) {
    std::cerr << "local-speaker: " << devices.error() << "\n";
    return;
  }
  if (devices.value().empty()) std::cout << "no output devices\n";
  for (const auto& d : devices.value()) {
    std::cout << (d.is_default ? "* " : "  ") << d.index << ": " << d.name << " (" << d.host_api << ", "
              << d.max_output_channels << " ch)\n";
  }
}

std::string seconds(std::uint64_t samples) {
  return std::to_string(static_cast<double>(samples) / sample_rate).substr(0, 5) + " s";
}

}  // namespace

int run_local_speaker(const LocalSpeakerOptions& options) {
  if (options.list_devices) {
    print_devices();
    return 0;
  }
  std::unique_ptr<AudioSink> device;
  std::vector<std::unique_ptr<AudioSink>> recorders;
  if (options.output == LocalSpeakerOptions::Output::portaudio) {
    auto opened = open_portaudio_sink(options.device, sample_rate);
    if (!opened) {
      std::cerr << "callproxy local-speaker: " << opened.error() << "\n";
      return 2;
    }
    device = std::move(opened.value());
  }
  if (options.output == LocalSpeakerOptions::Output::wav && options.wav_out.empty()) {
    std::cerr << "callproxy local-speaker: --output wav needs --wav-out FILE\n";
    return 2;
  }
  if (!options.wav_out.empty()) {
    auto opened = open_wav_sink(options.wav_out, sample_rate);
    if (!opened) {
      std::cerr << "callproxy local-speaker: --wav-out: " << opened.error() << "\n";
      return 2;
    }
    recorders.push_back(std::move(opened.value()));
  }

  Mixer mixer(static_cast<std::size_t>(options.jitter_buffer.count()) * sample_rate / 1000);
  Player player(mixer, std::move(device), std::move(recorders));
  SpeakerContext context{options, mixer};

  asio::io_context loop{1};
  net::Listener listener(loop, "local-speaker");
  UnixListener unix_listener(loop);
  std::uint16_t port = 0;
  try {
    if (options.socket_path.empty()) {
      port = listener.listen(options.bind, options.port);
    } else {
      unix_listener.listen(options.socket_path);
    }
  } catch (const std::invalid_argument& e) {
    std::cerr << "callproxy local-speaker: " << e.what() << "\n";
    return 2;
  } catch (const std::runtime_error& e) {
    spdlog::error("local-speaker: {}", e.what());
    return 1;
  }
  const char* output_name = options.output == LocalSpeakerOptions::Output::portaudio ? "PortAudio"
                            : options.output == LocalSpeakerOptions::Output::wav     ? options.wav_out.c_str()
                                                                                     : "none";
  if (options.socket_path.empty()) {
    spdlog::info("local-speaker listening on {}:{}{} (output: {})", options.bind, port, options.path, output_name);
    listener.start([&]() -> asio::io_context& { return loop; },
                   [&](tcp::socket socket) {
                     std::make_shared<StreamSession>(StreamSession::Socket(std::move(socket)), context)->run();
                   });
  } else {
    spdlog::info("local-speaker listening on unix:{}:{} (output: {})", options.socket_path, options.path, output_name);
    unix_listener.start(
        [&](StreamSession::Socket socket) { std::make_shared<StreamSession>(std::move(socket), context)->run(); });
  }

  // Per-stream statistics once a stream has fully played.
  asio::steady_timer stats_timer(loop);
  std::function<void()> report = [&] {
    for (const auto& s : mixer.take_finished()) {
      spdlog::info("stream {} ended: received {}, played {}, {} underrun{}, {} dropped", s.name,
                   seconds(s.samples_received), seconds(s.samples_played), s.underruns, s.underruns == 1 ? "" : "s",
                   seconds(s.samples_dropped));
    }
    stats_timer.expires_after(std::chrono::milliseconds(200));
    stats_timer.async_wait([&](error_code ec) {
      if (!ec) report();
    });
  };
  report();

  asio::signal_set signals(loop, SIGINT, SIGTERM);
  signals.async_wait([&](error_code, int signal) {
    spdlog::info("signal {}: finishing", signal);
    loop.stop();
  });

  player.start();
  loop.run();
  // Streams still open end here; what they hold still plays (bounded), files stay valid.
  listener.close();
  unix_listener.close();
  mixer.close_all();
  player.stop();
  for (const auto& s : mixer.take_finished()) {
    spdlog::info("stream {} ended: received {}, played {}, {} underruns", s.name, seconds(s.samples_received),
                 seconds(s.samples_played), s.underruns);
  }
  return 0;
}

}  // namespace callproxy::speaker
