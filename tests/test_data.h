// Where test inputs live, and reading them.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
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

// The directory this test process's files go in, /tmp/callproxy-test-<pid>: made on first use
// and removed, with everything in it, when the process ends. CTest runs each test in a process of
// its own, so a test's files go with it; the children it starts work in it too (ChildProcess).
inline const std::string& temp_root() {
  struct Root {
    std::string path = "/tmp/callproxy-test-" + std::to_string(::getpid());
    Root() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);  // a process before with the same pid
      std::filesystem::create_directories(path);
    }
    ~Root() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
    Root(const Root&) = delete;
    Root& operator=(const Root&) = delete;
  };
  static const Root root;
  return root.path;
}

// A fresh path in temp_root(): unique per call, nothing created.
inline std::string temp_path(const std::string& name) {
  static std::atomic<int> counter{0};
  return temp_root() + "/" + std::to_string(++counter) + "-" + name;
}

inline std::string data_path(const std::string& relative) { return std::string(CALLPROXY_TEST_DATA) + "/" + relative; }

}  // namespace callproxy::test
