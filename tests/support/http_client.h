// A small blocking HTTP/1.1 client over loopback for tests (one request per connection).
#pragma once

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

}  // namespace callproxy::test
