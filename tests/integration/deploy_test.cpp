// The deployment docs/deploying.md describes, run here: nginx with the shipped site config
// (assets/deploy/nginx/callproxy.conf) terminating TLS in front of serve, two instances on one
// Redis behind its upstream (a drain included), and the dashboard and alert rules referring only
// to metrics serve exports.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/xml_reader.h"
#include "proxy/http/request_signing.h"
#include "support/child_process.h"
#include "support/flow_steps.h"
#include "support/http_client.h"
#include "support/media_call.h"
#include "support/redis_server.h"
#include "support/test_secrets.h"
#include "support/wait.h"
#include "support/ws_peer.h"
#include "test_data.h"
#include "twilio/backend_protocol.h"
#include "twilio/base64.h"
#include "twilio/percent_encoding.h"
#include "twilio/signature.h"

using namespace callproxy;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string deploy_dir = std::string(CALLPROXY_ASSETS) + "/deploy";

std::string find_nginx() {
  for (const char* path : {"/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return {};
}

// A test CA and a certificate it signed for 127.0.0.1 (and localhost), made by the openssl CLI.
struct TestPki {
  std::string dir, ca, cert, key;
};

TestPki make_test_pki() {
  TestPki pki;
  pki.dir = test::temp_path("pki");
  pki.ca = pki.dir + "/ca.pem";
  pki.cert = pki.dir + "/cert.pem";
  pki.key = pki.dir + "/key.pem";
  const std::string d = pki.dir;
  const auto made = test::run_command(
      {"/bin/sh", "-c",
       "set -e; mkdir -p " + d + "; cd " + d +
           "; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1"
           " -subj /CN=callproxy-test-ca -keyout ca-key.pem -out ca.pem"
           "; openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1"
           " -keyout key.pem -out cert.csr"
           "; printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf"
           "; openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1"
           " -extfile ext.cnf -out cert.pem 2>&1"});
  if (made.exit_code != 0) throw std::runtime_error("openssl could not make the test PKI: " + made.out + made.err);
  return pki;
}

// `text` with `from` replaced by `to`; `from` must be there exactly `times` times (the shipped
// file's shape is part of what is tested: a line the test cannot find is a failure).
std::string replace_exactly(std::string text, const std::string& from, const std::string& to, int times = 1) {
  int found = 0;
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
    ++found;
  }
  if (found != times) {
    throw std::runtime_error("assets/deploy/nginx/callproxy.conf: expected '" + from + "' " + std::to_string(times) +
                             " time(s), found " + std::to_string(found));
  }
  return text;
}

// nginx running the shipped site config on loopback ports chosen now, with the test certificate
// and `upstreams` as the upstream's servers, from a prefix of its own; the foreground, one
// process (no workers to outlive it), no user switch and nothing written outside the prefix.
class Nginx {
 public:
  // The ports are chosen before serve starts: its --public-url names nginx's.
  struct Ports {
    unsigned short https = test::free_port();
    unsigned short http = test::free_port();
    std::string base() const { return "https://127.0.0.1:" + std::to_string(https); }
  };

  Nginx(const std::string& binary, const TestPki& pki, Ports ports, const std::vector<unsigned short>& upstreams)
      : prefix_(test::temp_path("nginx")), https_port_(ports.https), http_port_(ports.http) {
    std::filesystem::create_directories(prefix_ + "/logs");
    std::filesystem::create_directories(webroot());
    std::string site = test::read_file(deploy_dir + "/nginx/callproxy.conf");
    std::string servers;
    for (const auto port : upstreams) {
      servers += "server 127.0.0.1:" + std::to_string(port) + " max_fails=1 fail_timeout=10s;\n    ";
    }
    site = replace_exactly(site, "server 127.0.0.1:8999 max_fails=1 fail_timeout=10s;\n    ", servers);
    site = replace_exactly(site, "listen 443 ssl;", "listen 127.0.0.1:" + std::to_string(https_port_) + " ssl;");
    site = replace_exactly(site, "listen 80;", "listen 127.0.0.1:" + std::to_string(http_port_) + ";");
    site = replace_exactly(site, "/etc/letsencrypt/live/callproxy.example.com/fullchain.pem", pki.cert);
    site = replace_exactly(site, "/etc/letsencrypt/live/callproxy.example.com/privkey.pem", pki.key);
    site = replace_exactly(site, "root /var/www/html;", "root " + webroot() + ";");
    std::ofstream(prefix_ + "/callproxy.conf") << site;
    // What /etc/nginx/nginx.conf gives a site on Debian, with every path in the prefix.
    std::ofstream(prefix_ + "/nginx.conf") << "events { worker_connections 512; }\n"
                                           << "http {\n"
                                           << "  access_log " << prefix_ << "/logs/access.log;\n"
                                           << "  client_body_temp_path " << prefix_ << "/client_body;\n"
                                           << "  proxy_temp_path " << prefix_ << "/proxy;\n"
                                           << "  fastcgi_temp_path " << prefix_ << "/fastcgi;\n"
                                           << "  uwsgi_temp_path " << prefix_ << "/uwsgi;\n"
                                           << "  scgi_temp_path " << prefix_ << "/scgi;\n"
                                           << "  include " << prefix_ << "/callproxy.conf;\n"
                                           << "}\n";
    // -e: the log before the config is read (nginx >= 1.19.5; Debian 12 has 1.22).
    process_ = std::make_unique<test::ChildProcess>(std::vector<std::string>{
        binary, "-p", prefix_ + "/", "-c", prefix_ + "/nginx.conf", "-e", "stderr", "-g",
        "daemon off; master_process off; pid " + prefix_ + "/nginx.pid; error_log stderr notice;"});
    const bool up = test::eventually(
        [this] {
          try {
            return !test::raw_exchange(http_port_, "GET / HTTP/1.0\r\n\r\n").empty();
          } catch (const std::exception&) {
            return false;
          }
        },
        10s);
    if (!up) throw std::runtime_error("nginx did not start: " + process_->err());
  }
  ~Nginx() {
    process_->signal(SIGTERM);
    try {
      process_->wait(10s);
    } catch (const std::exception&) {
    }
  }
  unsigned short https_port() const { return https_port_; }
  unsigned short http_port() const { return http_port_; }
  std::string base() const { return "https://127.0.0.1:" + std::to_string(https_port_); }
  std::string media_url() const { return "wss://127.0.0.1:" + std::to_string(https_port_) + "/media"; }
  std::string log() const { return process_->err(); }
  // The site's certbot webroot (/var/www/html in the shipped file).
  std::string webroot() const { return prefix_ + "/webroot"; }

 private:
  std::string prefix_;
  unsigned short https_port_, http_port_;
  std::unique_ptr<test::ChildProcess> process_;
};

#define REQUIRE_NGINX(binary)                                                                              \
  const std::string binary = find_nginx();                                                                 \
  if (binary.empty()) {                                                                                    \
    WARN("SKIPPED: nginx is not installed (scripts/install-deps.sh test installs it; CI runs this test)"); \
    return;                                                                                                \
  }

// An HTTPS request through nginx by curl, trusting only the test CA; the status and the body.
struct Reply {
  int status = 0;
  std::string body;
};

Reply curl(const TestPki& pki, const std::string& method, const std::string& url,
           const std::map<std::string, std::string>& headers = {}, const std::string& body = {}) {
  std::vector<std::string> args{"/usr/bin/curl", "-sS", "--cacert", pki.ca, "-X",
                                method,          "-o",  "-",        "-w",   "\n%{http_code}"};
  for (const auto& [name, value] : headers) args.insert(args.end(), {"-H", name + ": " + value});
  test::secrets::remember_headers(headers);
  if (!body.empty()) args.insert(args.end(), {"--data-binary", body});
  args.push_back(url);
  const auto result = test::run_command(args);
  if (result.exit_code != 0) throw std::runtime_error("curl " + url + ": " + result.err);
  const auto newline = result.out.rfind('\n');
  return {std::stoi(result.out.substr(newline + 1)), result.out.substr(0, newline)};
}

Reply signed_validate_pin(const TestPki& pki, const std::string& base, const std::string& pin,
                          const std::string& caller, const std::string& token = test::secrets::auth_token) {
  const auto signature = twilio::compute_signature(token, base + "/validate-pin", {{"pin", pin}, {"callerId", caller}});
  return curl(pki, "POST", base + "/validate-pin",
              {{"Content-Type", "application/json"}, {"X-Twilio-Signature", signature}},
              json{{"pin", pin}, {"callerId", caller}}.dump());
}

// `callproxy client-test` through nginx: wss://, the test CA, the handshake signed.
std::vector<std::string> client_test(const Nginx& nginx, const TestPki& pki, const test::BackendServer& backend,
                                     std::vector<std::string> extra) {
  std::vector<std::string> args{"client-test",
                                "--url",
                                nginx.media_url(),
                                "--ca-file",
                                pki.ca,
                                "--auth-token",
                                test::secrets::auth_token,
                                "--backend-hosts",
                                "[\"" + backend.host_port() + "\"]"};
  args.insert(args.end(), extra.begin(), extra.end());
  return test::callproxy_args(args);
}

// The value of the series `series` (name and labels as written) in serve's /metrics.
double metric(unsigned short port, const std::string& series) {
  const auto text = test::http_request(port, "GET", "/metrics").body;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  throw std::runtime_error("no series " + series + " in /metrics");
}

std::vector<std::string> serve_args(const std::string& public_url, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{
      "--validate-signatures", "--public-url", public_url, "--pins-file", test::secrets::pins_file(), "--api-key",
      test::secrets::api_key};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

const test::EnvChanges token_env{{"TWILIO_AUTH_TOKEN", test::secrets::auth_token}};

}  // namespace

TEST_CASE("one --public-url signs streams as wss:// and webhooks as https://", "[deploy][signature]") {
  // Twilio signs a stream's wss:// URL and a webhook's https:// URL on the one public name.
  for (const std::string base : {"https://calls.example.com", "wss://calls.example.com/"}) {
    INFO(base);
    const proxy::RequestSigning signing({true, test::secrets::auth_token, base});
    CHECK(signing.signed_url("wss", "ignored", "/media") == "wss://calls.example.com/media");
    CHECK(signing.signed_url("https", "ignored", "/validate-pin") == "https://calls.example.com/validate-pin");
  }
  for (const std::string base : {"http://10.0.0.5:8999", "ws://10.0.0.5:8999"}) {
    INFO(base);
    const proxy::RequestSigning signing({true, test::secrets::auth_token, base});
    CHECK(signing.signed_url("wss", "ignored", "/media") == "ws://10.0.0.5:8999/media");
    CHECK(signing.signed_url("https", "ignored", "/validate-pin") == "http://10.0.0.5:8999/validate-pin");
  }
  // Without --public-url the Host header and the request's kind make the URL, as before.
  const proxy::RequestSigning from_host({true, test::secrets::auth_token, ""});
  CHECK(from_host.signed_url("wss", "a.example:8443", "/media") == "wss://a.example:8443/media");
}

TEST_CASE("nginx with the shipped config ends TLS in front of serve: signed wss:// calls and the callers API",
          "[deploy][nginx]") {
  REQUIRE_NGINX(binary);
  const auto pki = make_test_pki();
  test::BackendServer backend;
  const Nginx::Ports ports;
  auto serve = test::start_serve(serve_args(ports.base()), token_env);
  const auto serve_port = serve.port;
  Nginx nginx(binary, pki, ports, {serve.port});

  SECTION("a call streams over wss:// through nginx, verified against the test CA and signed for the public URL") {
    const auto call = test::run_command(client_test(nginx, pki, backend, {"--once", "--duration", "1", "--json"}));
    INFO(call.out << call.err << nginx.log());
    REQUIRE(call.exit_code == 0);
    const auto summary = json::parse(call.out.substr(0, call.out.find('\n')));
    CHECK(summary.at("ok") == true);
    CHECK(summary.at("framesSent") == 50);
    // The call's audio reached the backend: its start, then the media frames.
    REQUIRE(backend.wait_for_messages(51));
    CHECK(backend.messages(0).at(0).find("\"start\"") != std::string::npos);
    CHECK(metric(serve_port, "callproxy_frames_in_total") == 50);
  }

  SECTION("without the test CA the client refuses nginx's certificate") {
    auto args = client_test(nginx, pki, backend, {"--once", "--duration", "0.2"});
    const auto ca = std::find(args.begin(), args.end(), "--ca-file");
    args.erase(ca, ca + 2);
    const auto call = test::run_command(args);
    CHECK(call.exit_code == 1);
    CHECK(call.err.find("certificate verify failed") != std::string::npos);
    CHECK(backend.connections() == 0);
  }

  SECTION("a handshake signed with another token is refused 403 through nginx") {
    auto args = client_test(nginx, pki, backend, {"--once", "--duration", "0.2"});
    *(std::find(args.begin(), args.end(), "--auth-token") + 1) = test::secrets::other_auth_token;
    const auto call = test::run_command(args);
    CHECK(call.exit_code == 1);
    CHECK(call.err.find("HTTP 403") != std::string::npos);
    CHECK(metric(serve_port, "callproxy_handshake_rejections_total{reason=\"bad_signature\"}") == 1);
  }

  SECTION("a client-test --ca-file that holds no certificate is a usage error") {
    const auto not_pem = test::temp_path("not-a-ca.pem");
    std::ofstream(not_pem) << "not a certificate\n";
    auto args = client_test(nginx, pki, backend, {"--once"});
    *(std::find(args.begin(), args.end(), "--ca-file") + 1) = not_pem;
    const auto call = test::run_command(args);
    CHECK(call.exit_code == 2);
    CHECK(call.err.find("--ca-file") != std::string::npos);
  }

  SECTION("the callers API answers through nginx, signatures checked against the public https:// URL") {
    const auto ok = signed_validate_pin(pki, nginx.base(), test::secrets::pin, "+15550100");
    REQUIRE(ok.status == 200);
    CHECK(json::parse(ok.body).at("authenticated") == true);
    CHECK(signed_validate_pin(pki, nginx.base(), test::secrets::pin, "+15550100", test::secrets::other_auth_token)
              .status == 403);
    const auto list = curl(pki, "GET", nginx.base() + "/blocked-callers", {{"apiKey", test::secrets::api_key}});
    CHECK(list.status == 200);
    CHECK(json::parse(list.body).at("data").is_array());
    CHECK(curl(pki, "GET", nginx.base() + "/blocked-callers").status == 403);
    CHECK(curl(pki, "GET", nginx.base() + "/readyz").status == 200);
    // Metrics are scraped from each instance, not through the public name.
    CHECK(curl(pki, "GET", nginx.base() + "/metrics").status == 404);
  }

  SECTION("the TwiML flow answers Twilio's signed webhooks through nginx, its stream on the public wss:// name") {
    // As Twilio posts them: form-encoded, signed over the public https:// URL and the form.
    const auto post = [&](const std::string& url, const twilio::RequestParams& params,
                          const std::string& token = test::secrets::auth_token) {
      std::string body;
      for (const auto& [k, v] : params) {
        if (!body.empty()) body += '&';
        body += twilio::percent_encode(k, "-_.~") + "=" + twilio::percent_encode(v, "-_.~");
      }
      const auto signature = twilio::compute_signature(token, url, params);
      return curl(pki, "POST", url,
                  {{"Content-Type", "application/x-www-form-urlencoded"}, {"X-Twilio-Signature", signature}}, body);
    };
    twilio::RequestParams call{{"AccountSid", "AC0123456789abcdef0123456789abcdef"},
                               {"CallSid", "CA0123456789abcdef0123456789abcdef"},
                               {"From", "+15550100"},
                               {"To", "+15550000000"}};
    const auto voice = post(nginx.base() + "/twiml/voice", call);
    INFO(voice.body << nginx.log());
    REQUIRE(voice.status == 200);
    const auto gather = callproxy::parse_xml(voice.body).child("Gather");
    const auto action = gather.at("action");
    CHECK(action.rfind(nginx.base() + "/twiml/pin", 0) == 0);  // absolute, on the public name

    call.emplace_back("Digits", test::secrets::pin);
    const auto pin = post(action, call);
    INFO(pin.body);
    REQUIRE(pin.status == 200);
    const auto stream = callproxy::parse_xml(pin.body).child("Connect").child("Stream");
    CHECK(stream.at("url") == nginx.media_url());
    // Signed with another account's token: refused.
    CHECK(post(nginx.base() + "/twiml/voice", call, test::secrets::other_auth_token).status == 403);
  }

  SECTION("plain HTTP is redirected to https://, but for the ACME challenges certificate renewal needs") {
    const auto reply = test::http_request(nginx.http_port(), "GET", "/readyz");
    CHECK(reply.status == 301);
    CHECK(reply.headers.at("location").rfind("https://", 0) == 0);

    // What certbot --webroot writes, the CA fetches over plain HTTP on port 80.
    const auto challenges = nginx.webroot() + "/.well-known/acme-challenge";
    std::filesystem::create_directories(challenges);
    std::ofstream(challenges + "/t0k3n-XYZ_abc") << "t0k3n-XYZ_abc.thumbprint";
    const auto challenge = test::http_request(nginx.http_port(), "GET", "/.well-known/acme-challenge/t0k3n-XYZ_abc");
    INFO(nginx.log());
    CHECK(challenge.status == 200);
    CHECK(challenge.body == "t0k3n-XYZ_abc.thumbprint");
    CHECK(challenge.headers.at("content-type").rfind("text/plain", 0) == 0);
    CHECK(test::http_request(nginx.http_port(), "GET", "/.well-known/acme-challenge/missing").status == 404);
    // Only that directory: the rest of /.well-known, and anything else, is still redirected.
    for (const auto* target : {"/.well-known/security.txt", "/blocked-callers", "/"}) {
      INFO(target);
      const auto other = test::http_request(nginx.http_port(), "GET", target);
      CHECK(other.status == 301);
      CHECK(other.headers.at("location") == "https://127.0.0.1" + std::string(target));
    }
  }
}

TEST_CASE("two serve instances on one Redis behind nginx's upstream: calls spread, state shared, a drain refuses "
          "no call",
          "[deploy][nginx][redis][slow]") {
  REQUIRE_NGINX(binary);
  const auto pki = make_test_pki();
  test::RedisServer redis;
  test::BackendServer backend;
  const Nginx::Ports ports;
  const std::vector<std::string> shared{"--store", redis.url(), "--attempts-allowed", "2", "--drain-timeout", "30"};
  auto a = test::start_serve(serve_args(ports.base(), shared), token_env);
  auto b = test::start_serve(serve_args(ports.base(), shared), token_env);
  Nginx nginx(binary, pki, ports, {a.port, b.port});
  const auto calls_on = [](unsigned short port) { return metric(port, "callproxy_calls_total"); };

  // Four concurrent calls through the one public name land on both instances.
  const auto spread = test::run_command(client_test(nginx, pki, backend, {"--calls", "4", "--duration", "1"}));
  INFO(spread.out << spread.err << nginx.log());
  REQUIRE(spread.exit_code == 0);
  CHECK(calls_on(a.port) >= 1);
  CHECK(calls_on(b.port) >= 1);
  CHECK(calls_on(a.port) + calls_on(b.port) == 4);

  // A caller blocked through A (the third wrong PIN exceeds --attempts-allowed 2) is refused by
  // B, even with the right PIN.
  for (int i = 0; i < 3; ++i) {
    const json body{{"pin", test::secrets::wrong_pin}, {"callerId", "+15550200"}};
    const std::map<std::string, std::string> headers{
        {"Content-Type", "application/json"},
        {"X-Twilio-Signature",
         twilio::compute_signature(test::secrets::auth_token, ports.base() + "/validate-pin",
                                   {{"pin", test::secrets::wrong_pin}, {"callerId", "+15550200"}})}};
    test::secrets::remember_headers(headers);
    CHECK(test::http_request(a.port, "POST", "/validate-pin", headers, body.dump()).status == 200);
  }
  CHECK(test::http_request(b.port, "GET", "/blocked-callers", {{"apiKey", test::secrets::api_key}})
            .body.find("+15550200") != std::string::npos);
  for (int i = 0; i < 2; ++i) {  // through nginx, whichever instance answers
    const auto refused = signed_validate_pin(pki, nginx.base(), test::secrets::pin, "+15550200");
    REQUIRE(refused.status == 200);
    CHECK(json::parse(refused.body).at("authenticated") == false);
    CHECK(json::parse(refused.body).at("blocked") == true);
  }

  // A call's execution mark, set by whichever instance carries it, is seen from both.
  const std::string execution = "FN0123456789abcdef0123456789abcdef";
  {
    test::ChildProcess call(
        client_test(nginx, pki, backend, {"--once", "--duration", "3", "--execution-id", execution}));
    const auto connected = [&](unsigned short port) {
      return test::http_request(port, "GET", "/executions/" + execution + "/connected").status;
    };
    CHECK(test::eventually([&] { return connected(a.port) == 200 && connected(b.port) == 200; }));
    CHECK(call.wait() == 0);
    CHECK(test::eventually([&] { return connected(a.port) == 410 && connected(b.port) == 410; }, 10s));
  }

  // Drain the instance a live call is on: the call runs on, and new calls go to the other one
  // (nginx moves the 503 the draining instance answers a new stream with) with none refused.
  test::ChildProcess live(client_test(nginx, pki, backend, {"--once", "--duration", "4"}));
  const auto active = [](unsigned short port) { return metric(port, "callproxy_active_calls"); };
  REQUIRE(test::eventually([&] { return active(a.port) + active(b.port) == 1; }));
  auto& drained = active(a.port) == 1 ? a : b;
  auto& other = &drained == &a ? b : a;
  const auto other_before = calls_on(other.port);
  drained.process->signal(SIGTERM);
  REQUIRE(test::eventually([&] { return test::http_request(drained.port, "GET", "/readyz").status == 503; }));
  CHECK(metric(drained.port, "callproxy_ready") == 0);
  CHECK(metric(other.port, "callproxy_ready") == 1);
  const auto during = test::run_command(client_test(nginx, pki, backend, {"--calls", "4", "--duration", "0.5"}));
  INFO(during.out << during.err);
  CHECK(during.exit_code == 0);
  CHECK(calls_on(other.port) == other_before + 4);
  // nginx did offer the draining instance new streams: it refused them, and they went on.
  CHECK(metric(drained.port, "callproxy_handshake_rejections_total{reason=\"draining\"}") >= 1);
  // The live call ended normally, and with it the drained instance.
  CHECK(live.wait() == 0);
  CHECK(drained.process->wait(10s) == 0);
  // Its port closed, calls still go through (a refused connection moves on too).
  const auto after = test::run_command(client_test(nginx, pki, backend, {"--calls", "2", "--duration", "0.5"}));
  CHECK(after.exit_code == 0);
  CHECK(calls_on(other.port) == other_before + 6);
}

namespace {

// The metric names a PromQL expression reads: its identifiers, without label matchers, strings,
// ranges, grouping labels, functions and keywords.
std::set<std::string> metric_names(std::string expr) {
  expr = std::regex_replace(expr, std::regex(R"("(\\.|[^"\\])*")"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\{[^}]*\})"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\[[^\]]*\])"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))"), " ");
  static const std::set<std::string> keywords{"and", "or", "unless", "bool", "offset", "by", "without"};
  std::set<std::string> names;
  const std::regex token(R"([0-9][0-9A-Za-z_.]*|[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?)");
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), token); it != std::sregex_iterator(); ++it) {
    const std::string t = it->str();
    if (std::isdigit(static_cast<unsigned char>(t[0])) || t.back() == '(' || keywords.count(t) > 0) continue;
    names.insert(t);
  }
  return names;
}

// Every PromQL expression of the dashboard: panel targets and template variable queries.
std::vector<std::string> dashboard_exprs(const json& node) {
  std::vector<std::string> exprs;
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if ((key == "expr" || key == "query" || key == "definition") && value.is_string()) {
        if (key != "query" || value.get<std::string>() != "prometheus") exprs.push_back(value.get<std::string>());
      } else {
        const auto inner = dashboard_exprs(value);
        exprs.insert(exprs.end(), inner.begin(), inner.end());
      }
    }
  } else if (node.is_array()) {
    for (const auto& item : node) {
      const auto inner = dashboard_exprs(item);
      exprs.insert(exprs.end(), inner.begin(), inner.end());
    }
  }
  return exprs;
}

// The `expr:` values of the alert rules (each on one line: the file's header says so).
std::vector<std::string> alert_exprs(const std::string& yaml) {
  std::vector<std::string> exprs;
  std::istringstream lines(yaml);
  for (std::string line; std::getline(lines, line);) {
    const auto at = line.find("expr:");
    if (at == std::string::npos || line.find_first_not_of(' ') != at) continue;
    auto value = line.substr(at + 5);
    value.erase(0, value.find_first_not_of(' '));
    if (value.empty() || value[0] == '|' || value[0] == '>') {
      throw std::runtime_error("prometheus-alerts.yml: keep each expr on one line: " + line);
    }
    exprs.push_back(value);
  }
  return exprs;
}

}  // namespace

TEST_CASE("metric_names reads the metrics out of PromQL and nothing else", "[deploy][metrics]") {
  CHECK(metric_names(R"(histogram_quantile(0.95, sum by (le) (rate(a_bucket{x="y",z=~"$i"}[$__rate_interval]))))") ==
        std::set<std::string>{"a_bucket"});
  CHECK(metric_names(R"((sum(b{job="c"}) or vector(0)) == 0 and on (instance) d offset 5m)") ==
        std::set<std::string>{"b", "d"});
  CHECK(metric_names(R"(label_values(e{job="callproxy"}, instance))") == std::set<std::string>{"e", "instance"});
}

TEST_CASE("the Grafana dashboard and the alert rules name only metrics serve exports", "[deploy][metrics]") {
  auto serve = test::start_serve();
  std::set<std::string> exported;
  std::istringstream scrape(test::http_request(serve.port, "GET", "/metrics").body);
  for (std::string line; std::getline(scrape, line);) {
    if (line.empty() || line[0] == '#') continue;
    exported.insert(line.substr(0, line.find_first_of("{ ")));
  }
  REQUIRE(exported.count("callproxy_calls_total") == 1);
  // Names Prometheus itself makes, and the label a template variable lists.
  const std::set<std::string> from_prometheus{"up", "instance"};

  const auto dashboard = json::parse(test::read_file(deploy_dir + "/grafana-dashboard.json"));
  const auto alerts = test::read_file(deploy_dir + "/prometheus-alerts.yml");
  std::set<std::string> in_dashboard, in_alerts;
  for (const auto& expr : dashboard_exprs(dashboard)) {
    for (const auto& name : metric_names(expr)) in_dashboard.insert(name);
  }
  for (const auto& expr : alert_exprs(alerts)) {
    for (const auto& name : metric_names(expr)) in_alerts.insert(name);
  }
  for (const auto* names : {&in_dashboard, &in_alerts}) {
    for (const auto& name : *names) {
      INFO(name << (names == &in_dashboard ? " (grafana-dashboard.json)" : " (prometheus-alerts.yml)"));
      CHECK((exported.count(name) == 1 || from_prometheus.count(name) == 1));
    }
  }

  // What the dashboard is for has a panel, and what the alerts are for has a rule.
  for (const auto* name : {"callproxy_active_calls", "callproxy_calls_total", "callproxy_frames_in_total",
                           "callproxy_frames_out_total", "callproxy_frames_dropped_total",
                           "callproxy_backend_lag_disconnects_total", "callproxy_forward_latency_seconds_bucket",
                           "callproxy_handshake_rejections_total", "callproxy_store_errors_total", "callproxy_ready"}) {
    INFO(name);
    CHECK(in_dashboard.count(name) == 1);
  }
  for (const auto* name : {"up", "callproxy_ready", "callproxy_store_errors_total", "callproxy_frames_dropped_total",
                           "callproxy_backend_lag_disconnects_total", "callproxy_backend_connect_failures_total",
                           "callproxy_streams_refused_total"}) {
    INFO(name);
    CHECK(in_alerts.count(name) == 1);
  }
  for (const auto* alert :
       {"CallproxyInstanceDown", "CallproxyNoInstanceReady", "CallproxyStoreErrors", "CallproxyFramesDropped",
        "CallproxyBackendLagDisconnects", "CallproxyBackendUnreachable", "CallproxyStreamsWithoutBackend"}) {
    CHECK(alerts.find(std::string("- alert: ") + alert + "\n") != std::string::npos);
  }
}

TEST_CASE("the shipped alert rules pass promtool's check, and each alert fires on its unit test's series and nowhere "
          "else",
          "[deploy][metrics]") {
  const std::string promtool = "/usr/bin/promtool";
  if (::access(promtool.c_str(), X_OK) != 0) {
    WARN("SKIPPED: promtool is not installed (scripts/install-deps.sh test installs Debian's prometheus package; CI "
         "runs this test)");
    return;
  }
  const auto rules = deploy_dir + "/prometheus-alerts.yml";
  const auto checked = test::run_command({promtool, "check", "rules", rules});
  INFO(checked.out << checked.err);
  CHECK(checked.exit_code == 0);
  CHECK(checked.out.find("SUCCESS") != std::string::npos);

  // The unit tests (tests/data/prometheus-alerts.test.yml) cover every alert of the file: one the
  // file adds without a test is a failure here, not a rule nobody saw fire.
  const auto unit_tests = std::string(CALLPROXY_TEST_DATA) + "/prometheus-alerts.test.yml";
  const auto tests_text = test::read_file(unit_tests);
  const std::regex alert_line(R"(- alert: (\w+))");
  const auto text = test::read_file(rules);
  std::size_t alerts = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), alert_line); it != std::sregex_iterator(); ++it) {
    ++alerts;
    INFO((*it)[1].str());
    CHECK(tests_text.find("alertname: " + (*it)[1].str() + "\n") != std::string::npos);
  }
  CHECK(alerts >= 9);

  const auto tested = test::run_command({promtool, "test", "rules", unit_tests});
  INFO(tested.out << tested.err);
  CHECK(tested.exit_code == 0);
  CHECK(tested.out.find("SUCCESS") != std::string::npos);
}

TEST_CASE("store failures are counted in callproxy_store_errors_total and readiness in callproxy_ready",
          "[deploy][metrics][redis]") {
  test::RedisServer redis;
  auto serve = test::start_serve({"--store", redis.url()});
  CHECK(metric(serve.port, "callproxy_ready") == 1);
  CHECK(test::http_request(serve.port, "GET", "/executions/FN1/connected").status == 410);
  CHECK(metric(serve.port, "callproxy_store_errors_total") == 0);
  redis.stop();
  CHECK(test::http_request(serve.port, "GET", "/executions/FN1/connected").status == 503);
  CHECK(test::http_request(serve.port, "GET", "/blocked-callers/+15550300").status == 503);
  CHECK(metric(serve.port, "callproxy_store_errors_total") == 2);
}

// Grafana's variables in a dashboard expression, as Grafana would fill them: every instance, a
// rate window a few 1 s scrapes long. `label_values(M, L)` (a Grafana function, not PromQL) is the
// query Grafana sends for it: the series M, whose label L it lists.
std::string as_prometheus_query(std::string expr) {
  expr = std::regex_replace(expr, std::regex(R"(\$__rate_interval)"), "10s");
  expr = std::regex_replace(expr, std::regex(R"(\$instance)"), ".*");
  std::smatch match;
  if (std::regex_match(expr, match, std::regex(R"(label_values\((.*),\s*\w+\))"))) return match[1];
  return expr;
}

TEST_CASE("a real Prometheus scraping serve answers every query of the Grafana dashboard with data",
          "[deploy][metrics]") {
  const std::string prometheus = "/usr/bin/prometheus";
  if (::access(prometheus.c_str(), X_OK) != 0) {
    WARN("SKIPPED: prometheus is not installed (scripts/install-deps.sh test installs it; CI runs this test)");
    return;
  }
  test::BackendServer backend;
  auto serve = test::start_serve({"--backend", backend.host_port()});

  // Prometheus on a port of its own, scraping serve's /metrics every second as job callproxy (as
  // docs/deploying.md configures it; /metrics needs no key), its data in this test's directory.
  const auto dir = test::temp_path("prometheus");
  std::filesystem::create_directories(dir + "/data");
  std::ofstream(dir + "/prometheus.yml") << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                                            "scrape_configs:\n"
                                            "  - job_name: callproxy\n"
                                            "    static_configs: [{targets: [\"127.0.0.1:"
                                         << serve.port << "\"]}]\n";
  const auto port = test::free_port();
  test::ChildProcess server({prometheus, "--config.file=" + dir + "/prometheus.yml",
                             "--storage.tsdb.path=" + dir + "/data",
                             "--web.listen-address=127.0.0.1:" + std::to_string(port)});
  REQUIRE(test::eventually(
      [&] {
        try {
          return test::http_request(port, "GET", "/-/ready").status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      15s, 100ms));

  // A few calls through serve, frames out to the backend and replies back, while it is scraped.
  for (int i = 0; i < 3; ++i) {
    test::TwilioCall call(serve.port, {});
    call.start();
    for (int frame = 0; frame < 10; ++frame) call.media(frame);
    const auto index = static_cast<std::size_t>(i);
    REQUIRE(backend.wait_for_messages(11, index));  // start and the frames
    backend.send_text(twilio::write_simple_media(twilio::base64_encode(std::string_view("\x01\x02"))), index);
    REQUIRE(call.ws.receive(5s).has_value());  // the reply, relayed
    call.stop();
  }

  const auto dashboard = json::parse(test::read_file(deploy_dir + "/grafana-dashboard.json"));
  const auto exprs = dashboard_exprs(dashboard);
  REQUIRE(exprs.size() >= 20);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  std::size_t answered = 0;
  for (const auto& expr : exprs) {
    const auto query = as_prometheus_query(expr);
    INFO(expr << "\n  queried as: " << query);
    json last;
    const auto has_data = [&] {
      const auto reply = test::http_request(port, "GET",
                                            "/api/v1/query?query=" + twilio::percent_encode(query, "-_.~"));
      if (reply.status != 200) {
        last = reply.body;
        return false;
      }
      last = json::parse(reply.body);
      return last.value("status", "") == "success" && !last["data"]["result"].empty();
    };
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                            std::chrono::steady_clock::now());
    if (!test::eventually(has_data, std::max(left, std::chrono::milliseconds(500)), 250ms)) {
      FAIL_CHECK("no data for this query; Prometheus's last answer: " << last.dump());
    } else {
      ++answered;
    }
  }
  CHECK(answered == exprs.size());
  server.signal(SIGTERM);
  CHECK(server.wait(15s) == 0);
}

namespace {

// One call's streams as the shared backend saw them: per connection, the callSid of its start and
// when each media message arrived.
struct StreamSeen {
  std::string call_sid;
  std::vector<std::chrono::steady_clock::time_point> media;
};
std::vector<StreamSeen> streams_seen(const test::BackendServer& backend) {
  std::vector<StreamSeen> out;
  for (std::size_t i = 0; i < backend.connections(); ++i) {
    const auto messages = backend.messages(i);
    const auto times = backend.arrival_times(i);
    StreamSeen seen;
    for (std::size_t m = 0; m < messages.size() && m < times.size(); ++m) {
      const auto message = json::parse(messages[m], nullptr, false);
      if (!message.is_object()) continue;
      if (message.value("event", "") == "start") seen.call_sid = message.value("callSid", "");
      if (message.value("event", "") == "media") seen.media.push_back(times[m]);
    }
    out.push_back(std::move(seen));
  }
  return out;
}

// For each call whose audio moved from one stream to another: the longest silence between one
// stream's last frame and the next stream's first, in milliseconds.
std::map<std::string, double> audio_gaps(const std::vector<StreamSeen>& streams) {
  std::map<std::string, std::vector<const StreamSeen*>> by_call;
  for (const auto& s : streams) {
    if (!s.media.empty()) by_call[s.call_sid].push_back(&s);
  }
  std::map<std::string, double> gaps;
  for (auto& [call_sid, list] : by_call) {
    if (list.size() < 2) continue;
    std::sort(list.begin(), list.end(), [](auto* a, auto* b) { return a->media.front() < b->media.front(); });
    double worst = 0;
    for (std::size_t i = 1; i < list.size(); ++i) {
      worst = std::max(
          worst, std::chrono::duration<double, std::milli>(list[i]->media.front() - list[i - 1]->media.back()).count());
    }
    gaps[call_sid] = worst;
  }
  return gaps;
}

}  // namespace

// kill -9 of the instance streaming calls, or a SIGTERM drain of it: every call goes on through
// the call flow's after-stream step to the instance that stays. The gap each call's audio had at
// the backend is reported (bench/failover collects it; never asserted: wall-clock is the bench's).
TEST_CASE("two instances behind nginx: calls streaming through one resume on the other when it is killed or drained",
          "[deploy][nginx][redis][failover][slow]") {
  REQUIRE_NGINX(binary);
  const auto pki = make_test_pki();
  test::RedisServer redis;
  test::BackendServer backend;
  const Nginx::Ports ports;
  const auto pins = test::temp_path("failover-pins.json");
  std::ofstream(pins) << json::array({{{"pin", "2468"}, {"backendHosts", {backend.host_port()}}}}).dump();
  const std::vector<std::string> args{"--validate-signatures",
                                      "--public-url",
                                      ports.base(),
                                      "--pins-file",
                                      pins,
                                      "--store",
                                      redis.url(),
                                      "--after-stream",
                                      "reconnect",
                                      "--drain-timeout",
                                      "30",
                                      "--drain-handover",
                                      "--stream-token-secret",
                                      test::secrets::stream_token_secret};
  auto a = test::start_serve(args, token_env);
  auto b = test::start_serve(args, token_env);
  Nginx nginx(binary, pki, ports, {a.port, b.port});
  const char* env_calls = std::getenv("CALLPROXY_FAILOVER_CALLS");
  const int calls = env_calls ? std::max(1, std::atoi(env_calls)) : 4;
  const bool kill_it = GENERATE(true, false);
  INFO((kill_it ? "kill -9" : "SIGTERM"));

  // The calls, each a whole call through nginx: the PIN, then 10 s of paced audio.
  std::vector<std::unique_ptr<test::ChildProcess>> flows;
  for (int i = 0; i < calls; ++i) {
    char call_sid[40];
    std::snprintf(call_sid, sizeof call_sid, "CA%032d", (kill_it ? 1000 : 2000) + i);
    flows.push_back(std::make_unique<test::ChildProcess>(test::callproxy_args(
        {"client-test", "--flow", nginx.base() + "/twiml/voice", "--ca-file", pki.ca, "--auth-token",
         test::secrets::auth_token, "--digits", "2468", "--skip-prompts", "--duration", "10", "--call-sid", call_sid,
         "--from", "+1555000" + std::to_string(1000 + i)})));
  }
  const auto active = [](unsigned short port) { return metric(port, "callproxy_active_calls"); };
  REQUIRE(test::eventually([&] { return active(a.port) + active(b.port) == calls; }, 20s));
  // Every call's audio flows before the failure.
  REQUIRE(test::eventually([&] {
    const auto seen = streams_seen(backend);
    return static_cast<int>(seen.size()) == calls &&
           std::all_of(seen.begin(), seen.end(), [](const auto& s) { return s.media.size() >= 25; });
  }));
  auto& failing = active(a.port) >= active(b.port) ? a : b;
  auto& staying = &failing == &a ? b : a;
  const int moving = static_cast<int>(active(failing.port));
  REQUIRE(moving >= 1);
  if (kill_it) {
    failing.process->signal(SIGKILL);
  } else {
    failing.process->signal(SIGTERM);
  }

  // Every call ends as its caller hangs up (the recording played out): none was lost.
  std::vector<json> ends;
  for (auto& flow : flows) {
    INFO(flow->out() << flow->err());
    CHECK(flow->wait(60s) == 0);
    const auto steps = test::flow_steps(flow->out());
    REQUIRE_FALSE(steps.empty());
    CHECK(steps.back().at("outcome") == "caller_hangup");
    ends.push_back(steps.back());
  }
  // The moved calls: each had a second stream on the instance that stays, which the backend heard.
  const auto seen = streams_seen(backend);
  CHECK(static_cast<int>(seen.size()) == calls + moving);
  const auto gaps = audio_gaps(seen);
  CHECK(static_cast<int>(gaps.size()) == moving);
  if (kill_it) {
    // Twilio's next request could only reach the instance that stays.
    CHECK(metric(staying.port, "callproxy_after_stream_total{outcome=\"reconnect\"}") == moving);
  } else {
    // The draining instance answers requests while it drains (nginx may send it one); it refuses
    // new streams, which nginx moves on.
    CHECK(failing.process->wait(40s) == 0);
  }
  CHECK(metric(staying.port, "callproxy_after_stream_total{outcome=\"reconnects_spent\"}") == 0);

  // The figure: each moved call's gap in received audio.
  std::vector<double> values;
  for (const auto& [call_sid, gap] : gaps) values.push_back(gap);
  std::sort(values.begin(), values.end());
  std::ostringstream report;
  report << "{\"failure\":\"" << (kill_it ? "kill -9" : "SIGTERM") << "\",\"calls\":" << calls
         << ",\"moved\":" << moving << ",\"gaps_ms\":" << json(values).dump() << "}";
  WARN("failover: " << report.str());
  if (const char* out = std::getenv("CALLPROXY_FAILOVER_REPORT"))
    std::ofstream(out, std::ios::app) << report.str() << "\n";
}
