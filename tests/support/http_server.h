// A tiny HTTP/1.1 server for tests that play a remote API: every request gets the canned answer
// (after an optional delay), or the answer a function gives it; requests are recorded.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace callproxy::test {

struct CannedAnswer {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

class CannedHttpServer {
 public:
  // Answers each request (its raw text) as `respond` says (on the server's thread).
  using Responder = std::function<CannedAnswer(const std::string& request)>;

  CannedHttpServer(int status, std::string body, std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  explicit CannedHttpServer(Responder respond);
  ~CannedHttpServer();
  unsigned short port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() const;  // raw request texts

 private:
  void serve();
  int listener_ = -1;
  unsigned short port_ = 0;
  int status_;
  std::string body_;
  std::chrono::milliseconds delay_;
  Responder respond_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace callproxy::test
