#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>

#include "net/endpoint.h"
#include "proxy/media/backend_allowlist.h"
#include "proxy/media/backend_target.h"
#include "proxy/store/state_store.h"

using namespace callproxy;
using namespace callproxy::proxy;

TEST_CASE("host:port backends mean ws://host:port/media, URLs are used as given", "[backends]") {
  const auto plain = parse_backend("10.0.0.5:8900");
  REQUIRE(plain.ok());
  CHECK_FALSE(plain.value().tls);
  CHECK(plain.value().host == "10.0.0.5");
  CHECK(plain.value().port == 8900);
  CHECK(plain.value().url() == "ws://10.0.0.5:8900/media");

  const auto tls = parse_backend("wss://Bot.Example.com/stream?x=1");
  REQUIRE(tls.ok());
  CHECK(tls.value().tls);
  CHECK(tls.value().host == "bot.example.com");
  CHECK(tls.value().port == 443);
  CHECK(tls.value().target == "/stream?x=1");

  const auto v6 = parse_backend("ws://[::1]:9000");
  REQUIRE(v6.ok());
  CHECK(v6.value().host == "::1");
  CHECK(v6.value().target == "/");
  CHECK(v6.value().url() == "ws://[::1]:9000/");
}

TEST_CASE("a backend entry without a port means port 80, as the Node service's ws:// URL had it", "[backends]") {
  for (const auto& [entry, host] : std::vector<std::pair<std::string, std::string>>{
           {"Bot.Example.com", "bot.example.com"}, {"10.0.0.5", "10.0.0.5"}, {"[fd00::5]", "fd00::5"}}) {
    INFO(entry);
    const auto parsed = parse_backend(entry);
    REQUIRE(parsed.ok());
    CHECK_FALSE(parsed.value().tls);
    CHECK(parsed.value().host == host);
    CHECK(parsed.value().port == 80);
    CHECK(parsed.value().target == "/media");
  }
  CHECK(parse_backend("bot.example.com").value().url() == "ws://bot.example.com:80/media");
  // A URL without a port takes its scheme's.
  CHECK(parse_backend("ws://bot.example.com/x").value().port == 80);
  CHECK(parse_backend("wss://bot.example.com/x").value().port == 443);
}

TEST_CASE("bad backend entries are refused with the entry named", "[backends]") {
  for (const auto* entry : {"localhost:", "[::1", "[::1]x", "localhost:0", "localhost:70000", "http://x:80/",
                            "ws://user:pw@x:1/", "bad host:80", ":80", "::1:80", "ws://x:abc/"}) {
    INFO(entry);
    const auto parsed = parse_backend(entry);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().find(entry) != std::string::npos);
  }
}

TEST_CASE("backendHosts is a JSON array of strings inside a string", "[backends]") {
  const auto hosts = parse_backend_hosts(R"(["10.0.0.5:8900","wss://b.example.com/x"])");
  REQUIRE(hosts.ok());
  CHECK(hosts.value() == std::vector<std::string>{"10.0.0.5:8900", "wss://b.example.com/x"});
  CHECK_FALSE(parse_backend_hosts("10.0.0.5:8900").ok());
  CHECK_FALSE(parse_backend_hosts(R"([1,2])").ok());
  CHECK_FALSE(parse_backend_hosts(R"({"a":"b"})").ok());
}

TEST_CASE("the allowlist matches CIDR blocks, name suffixes, exact hosts and ports", "[backends]") {
  BackendAllowlist allow;
  CHECK(allow.allows("anything", "1.2.3.4", 1));  // empty: everything
  allow.add("10.0.0.0/8:8900");
  allow.add("*.internal:*");
  allow.add("bot.example.com:443");
  allow.add("[fd00::]/8:9000");

  CHECK(allow.allows("10.1.2.3", "10.1.2.3", 8900));
  CHECK_FALSE(allow.allows("10.1.2.3", "10.1.2.3", 8901));
  CHECK_FALSE(allow.allows("11.1.2.3", "11.1.2.3", 8900));
  CHECK(allow.allows("speaker.internal", "192.168.1.1", 1234));
  CHECK_FALSE(allow.allows("internal", "192.168.1.1", 1234));
  CHECK_FALSE(allow.allows("evil-internal", "192.168.1.1", 1234));
  CHECK(allow.allows("BOT.example.com", "8.8.8.8", 443));
  CHECK_FALSE(allow.allows("bot.example.com", "8.8.8.8", 80));
  CHECK(allow.allows("fd12::1", "fd12::1", 9000));
  // A name is judged by CIDR only through the address it resolved to.
  CHECK(allow.allows("backend.corp", "10.9.9.9", 8900));
  CHECK_FALSE(allow.allows("backend.corp", "172.16.0.1", 8900));
  CHECK(allow.may_allow("backend.corp", 8900));
  CHECK_FALSE(allow.may_allow("backend.corp", 1));
  CHECK_FALSE(allow.may_allow("192.168.0.1", 8900));
}

// A prefix ending inside a byte masks that byte's high bits only: both edges of the block are
// in, both neighbours out. (A mask shifted the wrong way, 0xFF >> n, passed the /8 and /104
// cases above, which end on byte boundaries.)
TEST_CASE("a CIDR prefix ending inside a byte takes both edges of its block and neither neighbour",
          "[backends][allowlist]") {
  BackendAllowlist allow;
  allow.add("10.16.0.0/12:*");           // 10.16.0.0 - 10.31.255.255: the second byte's high 4 bits
  allow.add("[2001:db8:a0::]/43:9000");  // 2001:db8:a0:: - 2001:db8:bf:ffff:...: the sixth byte's high 3 bits
  const auto allowed = [&](const std::string& address, std::uint16_t port) {
    INFO(address);
    return allow.allows(address, address, port) && allow.may_allow(address, port);
  };
  CHECK(allowed("10.16.0.0", 1));
  CHECK(allowed("10.31.255.255", 1));
  CHECK(allowed("10.20.1.2", 1));
  CHECK_FALSE(allowed("10.15.255.255", 1));
  CHECK_FALSE(allowed("10.32.0.0", 1));
  CHECK_FALSE(allowed("10.0.0.1", 1));

  CHECK(allowed("2001:db8:a0::", 9000));
  CHECK(allowed("2001:db8:bf:ffff:ffff:ffff:ffff:ffff", 9000));
  CHECK_FALSE(allowed("2001:db8:9f:ffff:ffff:ffff:ffff:ffff", 9000));
  CHECK_FALSE(allowed("2001:db8:c0::", 9000));
  CHECK_FALSE(allowed("2001:db8:a0::", 9001));
}

TEST_CASE("bad allowlist patterns are refused with the pattern named", "[backends]") {
  BackendAllowlist allow;
  for (const auto* pattern : {"10.0.0.0/33:1", "10.0.0.0/8", "host:port", "bad host:1", "300.0.0.0/8:1"}) {
    INFO(pattern);
    CHECK_THROWS_WITH(allow.add(pattern), Catch::Contains(pattern));
  }
}

// Found by fuzzing (tests/fuzz/fuzz_backend_hosts.cpp): the entry "8" was a host name, which the
// resolver reads as the address 0.0.0.8; so are 2130706433, 0177.0.0.1 and 0x7f.1 (127.0.0.1).
TEST_CASE("a host that is a number, not a name, is refused before it is resolved", "[backends][allowlist][fuzz]") {
  for (const auto* entry : {"8", "8:80", "2130706433:80", "0177.0.0.1:80", "0x7f.1:80", "0X7F.0.0.1", "127.1:80",
                            "0:80", "10.0.0.010:80", "ws://2130706433/", "ws://0x7f.1:80/", "bot.example.0x1f"}) {
    INFO(entry);
    const auto parsed = parse_backend(entry);
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.error(), Catch::Contains(entry) && Catch::Contains("invalid host"));
  }
  // Numbers inside a name are fine; only a numeric last label makes it an address.
  CHECK(parse_backend("10.0.0.5.nip.io:80").ok());
  CHECK(parse_backend("0x7f.example:80").ok());
  CHECK(parse_backend("1password.example:443").ok());
}

TEST_CASE("an allowlist of other addresses refuses every spelling of loopback", "[backends][allowlist]") {
  BackendAllowlist allow;
  allow.add("10.0.0.0/8:*");
  allow.add("[fd00::]/8:*");
  allow.add("*.internal:*");
  // The address a backend is connected to: its IP literal, or what its name resolves to
  // (loopback, for every name here that resolves).
  const auto refused = [&](const std::string& entry, std::vector<std::string> resolved) {
    INFO(entry);
    const auto parsed = parse_backend(entry);
    if (!parsed) return true;  // refused before any lookup
    const auto& t = parsed.value();
    if (!net::ip_bytes(t.host).empty()) {
      if (allow.may_allow(t.host, t.port)) return false;
      resolved = {t.host};
    }
    return std::none_of(resolved.begin(), resolved.end(),
                        [&](const std::string& address) { return allow.allows(t.host, address, t.port); });
  };
  // IPv6 loopback, compressed and expanded, and IPv4 loopback mapped into IPv6.
  for (const auto* entry : {"[::1]:80", "[0:0:0:0:0:0:0:1]:80", "[0000:0000::0001]:80", "[::ffff:127.0.0.1]:80",
                            "[::ffff:7f00:1]:80", "ws://[::ffff:127.0.0.1]:80/", "127.0.0.1:80", "[::]:80"}) {
    CHECK(refused(entry, {}));
  }
  // Zone ids, userinfo, trailing dots and numbers are not hosts at all.
  for (const auto* entry : {"[fe80::1%eth0]:80", "ws://[fe80::1%25eth0]:80/", "ws://user@10.0.0.1:80/",
                            "user@10.0.0.1:80", "ws://10.0.0.1@127.0.0.1:80/", "localhost.:80", "x.internal.:80",
                            "ws://localhost./", "2130706433:80", "0177.0.0.1:80", "0x7f.1:80"}) {
    INFO(entry);
    CHECK_FALSE(parse_backend(entry).ok());
  }
  // Names are judged by what they resolve to: localhost's aliases all resolve to loopback.
  for (const auto* entry : {"localhost:80", "LOCALHOST:80", "ws://LocalHost/", "ip6-localhost:80"}) {
    CHECK(refused(entry, {"127.0.0.1", "::1", "::ffff:127.0.0.1"}));
  }
  // A name inside an allowed suffix is allowed by name (the pattern trusts that zone's DNS).
  CHECK(allow.allows("bot.internal", "127.0.0.1", 80));
}

TEST_CASE("an address pattern matches its address in every spelling, and names only by what they resolve to",
          "[backends][allowlist]") {
  BackendAllowlist allow;
  allow.add("127.0.0.1:8888");
  allow.add("[::1]:9999");
  allow.add("[::ffff:10.0.0.0]/104:7777");  // an IPv4-mapped block is the IPv4 block: 10.0.0.0/8
  CHECK(allow.allows("127.0.0.1", "127.0.0.1", 8888));
  CHECK(allow.allows("::ffff:127.0.0.1", "::ffff:127.0.0.1", 8888));
  CHECK_FALSE(allow.allows("127.0.0.2", "127.0.0.2", 8888));
  CHECK_FALSE(allow.allows("127.0.0.1", "127.0.0.1", 9999));
  CHECK(allow.allows("0:0:0:0:0:0:0:1", "0:0:0:0:0:0:0:1", 9999));
  CHECK_FALSE(allow.allows("::2", "::2", 9999));
  CHECK(allow.allows("10.9.8.7", "10.9.8.7", 7777));
  CHECK(allow.allows("::ffff:10.9.8.7", "::ffff:10.9.8.7", 7777));
  CHECK_FALSE(allow.allows("11.0.0.1", "11.0.0.1", 7777));
  // A name may be asked for, and is allowed only at an address the patterns accept.
  CHECK(allow.may_allow("localhost", 8888));
  CHECK(allow.allows("localhost", "127.0.0.1", 8888));
  CHECK_FALSE(allow.allows("localhost", "127.0.0.2", 8888));
  CHECK_FALSE(allow.may_allow("127.0.0.2", 8888));
}

TEST_CASE("name patterns match names only, and patterns that could never match are refused", "[backends][allowlist]") {
  BackendAllowlist allow;
  allow.add("*.example.com:*");
  allow.add("localhost:80");
  CHECK(allow.allows("bot.example.com", "10.0.0.1", 443));
  CHECK_FALSE(allow.allows("bot.example.com.evil.net", "10.0.0.1", 443));
  CHECK_FALSE(allow.allows("127.0.0.1", "127.0.0.1", 80));  // localhost by name is not 127.0.0.1 by address
  CHECK(allow.allows("LocalHost", "127.0.0.1", 80));
  for (const auto* pattern : {"*.1:*", "*.0x7f:*", "bot.example.com.:443", "*.:*", "*..internal:*", "2130706433:80",
                              "[::ffff:10.0.0.0]/8:1", "user@host:80", "[fe80::1%eth0]:80"}) {
    INFO(pattern);
    CHECK_THROWS_WITH(allow.add(pattern), Catch::Contains(pattern));
  }
}

TEST_CASE("store specs parse and bad ones say what is expected", "[store]") {
  CHECK(std::holds_alternative<StoreSpec::Memory>(parse_store_spec("memory").value().kind));
  CHECK(std::get<StoreSpec::Sqlite>(parse_store_spec("sqlite:./x.db").value().kind).path == "./x.db");
  const auto redis = std::get<StoreSpec::Redis>(parse_store_spec("redis://cache:6380/2").value().kind);
  CHECK(redis.host == "cache");
  CHECK(redis.port == 6380);
  CHECK(redis.db == 2);
  CHECK_FALSE(parse_store_spec("postgres://x").ok());
  CHECK_FALSE(parse_store_spec("redis://:1").ok());
  CHECK_FALSE(parse_store_spec("redis://h:0").ok());
  CHECK_FALSE(parse_store_spec("sqlite:").ok());
}

TEST_CASE("redis URLs carry user, password, TLS and database as the Node service's client reads them", "[store]") {
  const auto redis = [](const char* url) { return std::get<StoreSpec::Redis>(parse_store_spec(url).value().kind); };
  const auto plain = redis("redis://cache");
  CHECK(plain.host == "cache");
  CHECK(plain.port == 6379);
  CHECK(plain.db == 0);
  CHECK_FALSE(plain.tls);
  CHECK(plain.user.empty());
  CHECK(plain.password.empty());
  CHECK(plain.keys == RedisKeys::node);

  const auto acl = redis("rediss://alice:s%40cr3t%3A%2F@cache.example.com:6380/4");
  CHECK(acl.tls);
  CHECK(acl.user == "alice");
  CHECK(acl.password == "s@cr3t:/");
  CHECK(acl.host == "cache.example.com");
  CHECK(acl.port == 6380);
  CHECK(acl.db == 4);

  const auto password_only = redis("redis://:pw@10.0.0.9/");
  CHECK(password_only.user.empty());
  CHECK(password_only.password == "pw");
  CHECK(password_only.db == 0);
  CHECK(redis("rediss://cache").port == 6379);  // Redis's TLS port is the one it is configured with
  const auto v6 = redis("redis://[::1]:7000/1");
  CHECK(v6.host == "::1");
  CHECK(v6.port == 7000);
  CHECK(v6.db == 1);
  CHECK(redis("redis://[::1]").port == 6379);
  // An IPv6 host without brackets was guessed at (fe80::1:6379 as host fe80::1, port 6379; ::1 as
  // host ":" port 1): refused, saying how to write it, as backends are.
  for (const auto* url : {"redis://fe80::1:6379", "redis://::1", "rediss://2001:db8::7/3"}) {
    INFO(url);
    const auto refused = parse_store_spec(url);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().find("an IPv6 redis host is written in brackets") != std::string::npos);
  }

  CHECK(parse_redis_keys("node").value() == RedisKeys::node);
  CHECK(parse_redis_keys("callproxy").value() == RedisKeys::callproxy);
}

TEST_CASE("bad redis URLs are refused with what is wrong, never with the password", "[store]") {
  const std::pair<const char*, const char*> cases[] = {
      {"redis://", "needs a host"},
      {"redis://:topsecret@", "needs a host"},
      {"redis://alice@cache", "without a password"},
      {"redis://:topsecret@cache:99999", "port must be 1-65535"},
      {"redis://:topsecret@cache/x", "database must be a number"},
      {"redis://:top%zzsecret@cache", "bad %-escape"},
      {"redis://cache?db=1", "no query"},
      {"redis://[::1:6379", "unclosed '['"},
      {"rediss://cache:", "port must be 1-65535"},
      {"redis://user:topsecret@cache", nullptr},  // fine
      {"ftp://user:topsecret@cache", "--store must be"},
  };
  for (const auto& [url, message] : cases) {
    INFO(url);
    const auto parsed = parse_store_spec(url);
    if (!message) {
      CHECK(parsed.ok());
      continue;
    }
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.error(), Catch::Contains(message));
    CHECK_THAT(parsed.error(), !Catch::Contains("topsecret"));
  }
  CHECK_THAT(parse_redis_keys("hash").error(), Catch::Contains("node or callproxy"));
}

TEST_CASE("a backend entry's '#' options name its audio shape and leave its address as it was", "[backend]") {
  const auto url = parse_backend("ws://stt.internal:9000/in?x=1#audio=pcm16@16000&frames=binary");
  REQUIRE(url.ok());
  CHECK(url.value().url() == "ws://stt.internal:9000/in?x=1");
  CHECK(url.value().shape.audio_name() == "pcm16@16000");
  CHECK(url.value().shape.frames == audio::Framing::binary);
  const auto node_style = parse_backend("10.0.0.5:8900#audio=pcm16@24000");
  REQUIRE(node_style.ok());
  CHECK(node_style.value().url() == "ws://10.0.0.5:8900/media");
  CHECK(node_style.value().shape.rate == 24000);
  CHECK(parse_backend("10.0.0.5:8900").value().shape.is_default());
  // Refused as invalid entries are, naming the entry and the option.
  const auto bad = parse_backend("bot:9000#audio=opus@48000");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error(), Catch::StartsWith("backend 'bot:9000#audio=opus@48000': audio='opus@48000'"));
  // The address before '#' is checked as before.
  CHECK_FALSE(parse_backend("bot:99999#audio=pcm16@16000").ok());
}

TEST_CASE("a unix: entry names a socket and the request's path, and nothing ambiguous parses", "[backends][unix]") {
  const auto plain = parse_backend("unix:/run/callproxy/bot.sock");
  REQUIRE(plain.ok());
  CHECK(plain.value().socket_path == "/run/callproxy/bot.sock");
  CHECK(plain.value().target == "/media");
  CHECK(plain.value().host == "localhost");  // what the Host header says
  CHECK_FALSE(plain.value().tls);
  CHECK(plain.value().name() == "unix:/run/callproxy/bot.sock:/media");
  const auto shaped = parse_backend("unix:/run/callproxy/stt.sock:/in?lang=en#audio=pcm16@16000&frames=binary");
  REQUIRE(shaped.ok());
  CHECK(shaped.value().socket_path == "/run/callproxy/stt.sock");
  CHECK(shaped.value().target == "/in?lang=en");
  CHECK(shaped.value().shape.rate == 16000);
  CHECK(shaped.value().shape.frames == audio::Framing::binary);
  const std::string longest = "/" + std::string(106, 's');
  CHECK(parse_backend("unix:" + longest).ok());

  for (const auto& [entry, why] : std::vector<std::pair<std::string, std::string>>{
           {"unix:", "must be absolute"},
           {"unix:run/bot.sock", "must be absolute"},
           {"unix:/run/../etc/bot.sock", "'..'"},
           {"unix:/run/./bot.sock", "'..'"},
           {"unix:/run//bot.sock", "'..'"},
           {"unix:/run/bots/", "not a folder"},
           {"unix:/run/bot.sock:media", "starts the request's path"},
           {"unix:/run/bot.sock:", "starts the request's path"},
           {"unix:/run/bot sock", "no spaces"},
           {"unix:/run/bot.sock:/a b", "invalid path"},
           {"unix:" + longest + "s", "at most 107 bytes"},
       }) {
    INFO(entry);
    const auto parsed = parse_backend(entry);
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.error(), Catch::StartsWith("backend '"));
    CHECK_THAT(parsed.error(), Catch::Contains(why));
  }
}

TEST_CASE("a unix:/FOLDER allowlist pattern allows sockets below that folder only", "[backends][allowlist][unix]") {
  BackendAllowlist none;
  CHECK_FALSE(none.allows_socket("/run/bot.sock"));  // no list: no socket named by a call
  BackendAllowlist any;
  any.add("*:*");
  CHECK_FALSE(any.allows_socket("/run/bot.sock"));  // "*" is every network backend, not a socket

  BackendAllowlist list;
  list.add("unix:/run/callproxy/");
  CHECK_FALSE(list.empty());
  CHECK(list.allows_socket("/run/callproxy/bot.sock"));
  CHECK(list.allows_socket("/run/callproxy/team/stt.sock"));
  CHECK_FALSE(list.allows_socket("/run/callproxy"));
  CHECK_FALSE(list.allows_socket("/run/callproxy-other/bot.sock"));  // a folder, not a prefix of names
  CHECK_FALSE(list.allows_socket("/run/bot.sock"));
  // A unix: pattern alone makes the list: network backends then need their own pattern.
  CHECK_FALSE(list.may_allow("bot.internal", 9000));
  CHECK_FALSE(list.allows("127.0.0.1", "127.0.0.1", 9000));
  list.add("127.0.0.1:9000");
  CHECK(list.allows("127.0.0.1", "127.0.0.1", 9000));

  BackendAllowlist no_slash;
  no_slash.add("unix:/run/callproxy");  // the trailing '/' is optional
  CHECK(no_slash.allows_socket("/run/callproxy/bot.sock"));
  CHECK_FALSE(no_slash.allows_socket("/run/callproxybot.sock"));

  for (const char* bad : {"unix:", "unix:run/x", "unix:/", "unix://", "unix:/run/../etc", "unix:/run/./x"}) {
    INFO(bad);
    BackendAllowlist l;
    CHECK_THROWS_WITH(l.add(bad), Catch::StartsWith(std::string("--backend-allow '") + bad + "'"));
  }
}
