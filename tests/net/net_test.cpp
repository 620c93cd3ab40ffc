// The net room's units: the write queue, backoff, URL endpoints, text a peer chose in a log line.
// (Its tests on real sockets are in net_sockets_test.cpp.)
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "core/log_text.h"
#include "net/backoff.h"
#include "net/endpoint.h"
#include "net/write_queue.h"

using namespace callproxy;
using namespace std::chrono_literals;

TEST_CASE("a write queue refuses what passes its message or byte limit, never a lone message", "[net]") {
  net::WriteQueue<std::string> queue({3, 100});
  CHECK(queue.push("a", 40));
  CHECK(queue.push("b", 40));
  CHECK_FALSE(queue.push("c", 40));  // 120 bytes
  CHECK(queue.push("c", 20));        // exactly 100
  CHECK_FALSE(queue.push("d", 1));   // a fourth message
  CHECK(queue.size() == 3);
  CHECK(queue.bytes() == 100);
  queue.push_front("start", 50);  // what a new connection sends first goes in regardless
  CHECK(queue.front() == "start");
  CHECK(queue.bytes() == 150);
  queue.pop();
  queue.pop();
  CHECK(queue.front() == "b");
  CHECK(queue.bytes() == 60);
  queue.clear();
  CHECK(queue.empty());
  CHECK(queue.bytes() == 0);
  CHECK(queue.push("huge", 1000));  // alone: the message size limit bounds it, not the queue
  CHECK_FALSE(queue.push("more", 1));
}

TEST_CASE("a write queue keeps order across wrap-around, growth and push_front", "[net]") {
  net::WriteQueue<int> queue({100000, 1u << 30});
  int next_in = 0, next_out = 0;
  // Uneven pushes and pops make the ring wrap many times at many sizes.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < round % 37 + 1; ++i) REQUIRE(queue.push(next_in++, 1));
    for (int i = 0; i < round % 23 + 1 && !queue.empty(); ++i) {
      REQUIRE(queue.front() == next_out++);
      queue.pop();
    }
  }
  CHECK(queue.size() == static_cast<std::size_t>(next_in - next_out));
  CHECK(queue.bytes() == queue.size());
  queue.push_front(-1, 5);
  std::vector<int> seen;
  queue.for_each([&](int v) { seen.push_back(v); });
  REQUIRE(seen.size() == queue.size());
  CHECK(seen.front() == -1);
  for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] == next_out + static_cast<int>(i) - 1);
  CHECK(queue.bytes() == queue.size() + 4);
}

TEST_CASE("backoff doubles from its first delay up to the cap and starts over after a reset", "[net]") {
  net::Backoff backoff(100ms, 2s);
  CHECK(backoff.attempts() == 0);
  for (const auto expected : {100ms, 200ms, 400ms, 800ms, 1600ms, 2000ms, 2000ms}) CHECK(backoff.next() == expected);
  CHECK(backoff.attempts() == 7);
  for (int i = 0; i < 100; ++i) backoff.next();  // no overflow however long it fails
  CHECK(backoff.next() == 2s);
  backoff.reset();
  CHECK(backoff.next() == 100ms);
}

TEST_CASE("URLs give endpoints with default ports, bracketed IPv6 and no credentials", "[net]") {
  const auto wss = net::parse_url("wss://Bot.Example.com/stream?x=1", net::UrlScheme::websocket);
  REQUIRE(wss.ok());
  CHECK(wss.value().tls);
  CHECK(wss.value().host == "bot.example.com");
  CHECK(wss.value().port == 443);
  CHECK(wss.value().target == "/stream?x=1");
  CHECK(wss.value().authority() == "bot.example.com");
  // For logs: the query (a backend's credentials, as like as not) shown as "?…".
  CHECK(wss.value().url() == "wss://bot.example.com:443/stream?x=1");
  CHECK(wss.value().logged_url() == "wss://bot.example.com:443/stream?…");

  const auto v6 = net::parse_url("ws://[::1]:9000", net::UrlScheme::websocket);
  REQUIRE(v6.ok());
  CHECK(v6.value().host == "::1");
  CHECK(v6.value().target == "/");
  CHECK(v6.value().authority() == "[::1]:9000");
  CHECK(v6.value().url() == "ws://[::1]:9000/");

  const auto http = net::parse_url("http://127.0.0.1:8080/base/", net::UrlScheme::http);
  REQUIRE(http.ok());
  CHECK_FALSE(http.value().tls);
  CHECK(http.value().url(true) == "http://127.0.0.1:8080/base/");

  CHECK(net::parse_url("http://x/", net::UrlScheme::websocket).error().find("scheme") != std::string::npos);
  CHECK(net::parse_url("ws://user:pw@x:1/", net::UrlScheme::websocket).error().find("credentials") !=
        std::string::npos);
  CHECK(net::parse_url("ws://x:0/", net::UrlScheme::websocket).error().find("port") != std::string::npos);
  CHECK(net::parse_url("ws://x:70000/", net::UrlScheme::websocket).error().find("port") != std::string::npos);
  CHECK_FALSE(net::parse_url("not a url", net::UrlScheme::websocket).ok());
}

TEST_CASE("text a peer chose is logged cut at 256 bytes on a character boundary, the cut marked", "[net][log]") {
  CHECK(logged_text("/media") == "/media");
  CHECK(logged_text(std::string(256, 'a')) == std::string(256, 'a'));
  CHECK(logged_text(std::string(300, 'a')) == std::string(256, 'a') + "…");
  // "é" is two bytes: a cut that would split the one at bytes 255-256 keeps neither byte.
  CHECK(logged_text(std::string(255, 'a') + "éz") == std::string(255, 'a') + "…");
  CHECK(logged_text("ABCDEFGH", 4) == "ABCD…");
  const auto long_path = net::parse_url("ws://10.0.0.5:9000/" + std::string(5000, 'p'), net::UrlScheme::websocket);
  REQUIRE(long_path.ok());
  CHECK(long_path.value().logged_url() == "ws://10.0.0.5:9000/" + std::string(255, 'p') + "…");
  CHECK(long_path.value().url() == "ws://10.0.0.5:9000/" + std::string(5000, 'p'));
}

// Found by fuzzing (tests/fuzz/fuzz_backend_hosts.cpp): Boost.URL 1.81 parses "ws://a:8x/" as the
// port 8 and the path "x/", so such a backend became ws://a:8 with the request target "x/".
TEST_CASE("a port followed by anything but a path is refused", "[net][fuzz][bad-input]") {
  for (const auto* url : {"ws://a:8x/", "ws://a:8x", "ws://a:8:9/", "ws://a:x8/p",
                          "ws://nal:8exae.coml:*,bot.exw://bot,.exae.coernal:80", "http://127.0.0.1:8080x/base/"}) {
    INFO(url);
    const auto parsed = net::parse_url(url, url[0] == 'h' ? net::UrlScheme::http : net::UrlScheme::websocket);
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.error(), Catch::Contains("port must be 1-65535"));
  }
  // Boost.URL 1.81 also reads "ws://10.0.0.5.nip.io/" as the host 10.0.0.5: refused, not misread.
  for (const auto* url : {"ws://10.0.0.5-8900:80/media", "ws://10.0.0.5.nip.io/", "ws://1.2.3.4x:80/"}) {
    INFO(url);
    const auto parsed = net::parse_url(url, net::UrlScheme::websocket);
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.error(), Catch::Contains("starts with an IPv4 address"));
  }
  CHECK(net::parse_url("ws://a:8/x", net::UrlScheme::websocket).value().target == "/x");
  CHECK(net::parse_url("ws://a:8?x=1", net::UrlScheme::websocket).value().target == "/?x=1");
}
