// Zero allocations per frame in steady state, counted on a live call: serve runs in this process
// (one event loop, on a thread of ours), a Twilio-side client and a backend on loopback, and the
// C allocator itself is counted on the loop's thread (operator new, Asio's handler memory and
// every library's malloc all end there). A separate executable: it replaces malloc.
#include <catch2/catch.hpp>

#include <pthread.h>
#include <sys/prctl.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "proxy/server.h"
#include "support/in_process_serve.h"
#include "support/ws_peer.h"
#include "testclient/twilio_stream_writer.h"

#if defined(__SANITIZE_ADDRESS__)
#define CALLPROXY_COUNT_ALLOCATIONS 0  // ASan owns malloc: the debug build runs this test
#else
#define CALLPROXY_COUNT_ALLOCATIONS 1
#endif

namespace {

constexpr const char* loop_thread_name = "cp-alloc-loop";
std::atomic<bool> counting{false};
std::atomic<std::uint64_t> loop_allocations{0};

// Whether the calling thread is serve's loop (its name, looked up once per thread).
bool on_loop_thread() {
  thread_local int known = -1;
  if (known < 0) {
    char name[16] = {};
    prctl(PR_GET_NAME, name, 0, 0, 0);
    known = std::strcmp(name, loop_thread_name) == 0 ? 1 : 0;
  }
  return known == 1;
}

// Used by the allocator replacements, which AddressSanitizer builds leave out.
[[maybe_unused]] void count() {
  if (counting.load(std::memory_order_relaxed) && on_loop_thread()) {
    loop_allocations.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

#if CALLPROXY_COUNT_ALLOCATIONS
// glibc's own entry points, which the replacements below forward to.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);

void* malloc(std::size_t size) {
  count();
  return __libc_malloc(size);
}
void* calloc(std::size_t n, std::size_t size) {
  count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t size) {
  count();
  return __libc_realloc(p, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  count();
  return __libc_memalign(alignment, size);
}
void* memalign(std::size_t alignment, std::size_t size) {
  count();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  count();
  void* p = __libc_memalign(alignment, size);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
}
#endif

using namespace callproxy;
using namespace std::chrono_literals;

namespace {

// serve on one event loop, on a thread of this process named for the counter.
proxy::ServeOptions one_loop(proxy::BackendFormat format) {
  proxy::ServeOptions options;
  options.threads = 1;
  options.store = "memory";
  options.media.backend_format = format;
  return options;
}

void name_loop_thread() { pthread_setname_np(pthread_self(), loop_thread_name); }

}  // namespace

TEST_CASE("a live call forwards 1000 frames without one allocation on the loop", "[media][alloc]") {
#if !CALLPROXY_COUNT_ALLOCATIONS
  WARN("allocations are counted in the build without AddressSanitizer (which replaces malloc)");
  return;
#endif
  for (const auto format : {proxy::BackendFormat::simple, proxy::BackendFormat::twilio}) {
    INFO((format == proxy::BackendFormat::simple ? "simple" : "twilio"));
    test::BackendServer backend;
    test::InProcessServe serve(one_loop(format), name_loop_thread);
    std::mt19937_64 random(std::random_device{}());
    testclient::TwilioStreamWriter writer(testclient::make_call_identity(random),
                                          {{"backendHosts", "[\"" + backend.host_port() + "\"]"}});
    test::WsClient twilio(serve.port());
    twilio.send_text(writer.connected());
    twilio.send_text(writer.start());
    const std::size_t preamble = format == proxy::BackendFormat::twilio ? 2 : 1;
    REQUIRE(backend.wait_for_messages(preamble));

    // Frames in batches, each delivered before the next: the same path as a paced call, faster.
    std::size_t sent = 0;
    auto send_frames = [&](std::size_t n) {
      for (std::size_t batch = 0; batch < n; batch += 10) {
        for (std::size_t i = 0; i < 10; ++i) {
          const std::vector<std::uint8_t> frame(160, static_cast<std::uint8_t>(sent++));
          twilio.send_text(writer.media(frame));
        }
        REQUIRE(backend.wait_for_messages(preamble + sent));
      }
    };
    send_frames(300);  // warm-up: buffers, rings and pools reach their working sizes
    loop_allocations = 0;
    counting = true;
    send_frames(1000);
    counting = false;
    CHECK(backend.messages().size() == preamble + 1300);
    CHECK(loop_allocations.load() == 0);
#if CALLPROXY_COUNT_ALLOCATIONS
    // The counter itself is live: the same thread allocates when a call starts.
    loop_allocations = 0;
    counting = true;
    test::WsClient second(serve.port());
    second.send_text(writer.connected());
    second.send_text(writer.start());
    REQUIRE(backend.wait_for_messages(preamble, 1));
    counting = false;
    CHECK(loop_allocations.load() > 0);
#endif
  }
}
