// Runs the real callproxy binary (or any program) from a test: arguments, environment,
// captured stdout/stderr, signals and bounded waits. When a `callproxy serve` child ends, its
// stderr is searched for the test secrets (test_secrets.h): a leaked one fails the test.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace callproxy::test {

// Environment changes: a value sets the variable, nullopt removes it.
using EnvChanges = std::map<std::string, std::optional<std::string>>;

// Each child works in a directory of its own in the test's temp_root() (test_data.h), removed
// with it: what a child writes to relative paths (serve's default store, ./callproxy.db) never
// lands in the build tree, nor in another child's way.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> args, EnvChanges env = {}, std::optional<std::string> stdin_text = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The child's working directory (absolute).
  const std::string& working_dir() const { return working_dir_; }
  void signal(int sig);
  // The exit code (128+N when killed by signal N); throws if still running after `timeout`.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits until stderr holds a line containing `needle`; returns that line (throws on timeout
  // or if the process exits first).
  std::string wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::string out() const;
  std::string err() const;

 private:
  void reader(int fd, std::string& sink);
  void check_log_for_secrets();

  pid_t pid_ = -1;
  std::string working_dir_;
  bool serve_ = false;  // a callproxy serve child: its log is checked for secrets when it ends
  bool log_checked_ = false;
  std::optional<int> exit_code_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string out_, err_;
  std::thread out_thread_, err_thread_;
  bool out_done_ = false, err_done_ = false;
};

struct CommandResult {
  int exit_code;
  std::string out;
  std::string err;
};

// Runs to completion; throws, and kills it, when it is still running after `time_limit`.
CommandResult run_command(std::vector<std::string> args, EnvChanges env = {},
                          std::optional<std::string> stdin_text = {},
                          std::chrono::milliseconds time_limit = std::chrono::seconds(30));

// A throwaway self-signed certificate for localhost made by the openssl CLI; returns the
// directory holding cert.pem and key.pem (throws if openssl fails).
std::string make_test_certificate(const std::string& name);

// The callproxy binary under test with `args` after it.
std::vector<std::string> callproxy_args(std::vector<std::string> args);

// Starts `callproxy serve` on 127.0.0.1 and a free port; returns the port once it listens.
// `launcher`, when given, runs first with serve's command line after it (a wrapper that execs
// it, such as in_private_mount_namespace's).
struct ServeProcess {
  std::unique_ptr<ChildProcess> process;
  unsigned short port = 0;
};
ServeProcess start_serve(std::vector<std::string> extra_args = {}, EnvChanges env = {},
                         std::vector<std::string> launcher = {});

// How many times `needle` occurs in `text` (a log's lines of one kind), and the length of its
// longest line.
std::size_t count_of(const std::string& text, const std::string& needle);
std::size_t longest_line(const std::string& text);

// A free TCP port on 127.0.0.1 (bound once and released: free a moment ago), never one this
// process was given before.
unsigned short free_port();

// Whether this test may make mount namespaces (root, and unshare works here); the tests that need
// one skip with a warning otherwise.
bool can_use_mount_namespaces();

// A launcher that runs `setup` (shell commands: mounts) as root in a private mount namespace of
// its own and then execs the command after it there: what it mounts is seen by that command alone.
// Paths inside it are reachable from the test as /proc/<pid>/root/<path>.
std::vector<std::string> in_private_mount_namespace(const std::string& setup);

}  // namespace callproxy::test
