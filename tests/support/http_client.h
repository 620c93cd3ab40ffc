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

// Sends `raw` bytes as they are and returns everything the server answered before closing.
std::string raw_exchange(unsigned short port, const std::string& raw);

HttpReply parse_reply(const std::string& raw);

}  // namespace callproxy::test
