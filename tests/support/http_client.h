// A small blocking HTTP/1.1 client over loopback for tests (one request per connection).
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace callproxy::test {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

HttpReply http_request(unsigned short port, const std::string& method, const std::string& target,
                       const std::map<std::string, std::string>& headers = {}, const std::string& body = {});

// The same from another loopback address (127.0.0.2, ...), as a second client machine would be.
HttpReply http_request_from(const std::string& source_ip, unsigned short port, const std::string& method,
                            const std::string& target, const std::map<std::string, std::string>& headers = {},
                            const std::string& body = {});

// Sends `raw` bytes as they are and returns everything the server answered before closing;
// from `source_ip` when one is given (it must be a loopback address).
std::string raw_exchange(unsigned short port, const std::string& raw, const std::string& source_ip = {});

HttpReply parse_reply(const std::string& raw);

// One TCP connection to 127.0.0.1:port held open across calls, for what a connection lives
// through: keep-alive, deadlines, connection limits.
class TcpConnection {
 public:
  explicit TcpConnection(unsigned short port);  // throws if it cannot connect
  ~TcpConnection();
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // False when the server has closed the connection (what could not be sent is dropped).
  bool send(const std::string& bytes);
  // The next complete response (its head, and the body its Content-Length announces; none for
  // `head_request`). Throws if the connection ends or `timeout` passes first.
  HttpReply read_reply(std::chrono::milliseconds timeout = std::chrono::seconds(10), bool head_request = false);
  // Waits until the server closes the connection (end of stream or reset): true if it did within
  // `timeout`. What arrived meanwhile is kept for received().
  bool wait_closed(std::chrono::milliseconds timeout);
  // Bytes received and not yet taken by read_reply.
  const std::string& received() const { return pending_; }

 private:
  // Reads what is there within `timeout`; false once the connection has ended.
  bool read_some(std::chrono::milliseconds timeout);
  int fd_ = -1;
  bool ended_ = false;
  std::string pending_;
};

}  // namespace callproxy::test
