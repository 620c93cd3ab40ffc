// Where test inputs live, and reading them.
#pragma once

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace callproxy::test {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read test input " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A fresh path under /tmp for this test process: unique per call, nothing created.
inline std::string temp_path(const std::string& name) {
  static std::atomic<int> counter{0};
  return "/tmp/callproxy-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + "-" + name;
}

inline std::string data_path(const std::string& relative) { return std::string(CALLPROXY_TEST_DATA) + "/" + relative; }

}  // namespace callproxy::test
