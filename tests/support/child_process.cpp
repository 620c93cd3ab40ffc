#include "support/child_process.h"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "support/test_secrets.h"
#include "test_data.h"

extern char** environ;

namespace callproxy::test {

ChildProcess::ChildProcess(std::vector<std::string> args, EnvChanges env, std::optional<std::string> stdin_text) {
  // Directly or through a wrapper (prlimit ... callproxy serve).
  const auto binary = std::find(args.begin(), args.end(), std::string(CALLPROXY_BIN));
  serve_ = binary != args.end() && binary + 1 != args.end() && *(binary + 1) == "serve";
  std::map<std::string, std::string> environment;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) environment[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : env) {
    if (value) environment[key] = *value;
    else environment.erase(key);
  }
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : environment) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) {
    throw std::runtime_error("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  working_dir_ = temp_path("cwd");
  std::filesystem::create_directory(working_dir_);
  posix_spawn_file_actions_addchdir_np(&actions, working_dir_.c_str());
  const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    throw std::runtime_error("cannot start " + args.at(0) + ": " +
                             std::strerror(rc));  // NOLINT(concurrency-mt-unsafe): a message for a failing test
  }
  if (stdin_text) {
    std::size_t written = 0;
    while (written < stdin_text->size()) {
      const auto n = ::write(in_pipe[1], stdin_text->data() + written, stdin_text->size() - written);
      if (n <= 0) break;
      written += static_cast<std::size_t>(n);
    }
  }
  close(in_pipe[1]);
  out_thread_ = std::thread([this, fd = out_pipe[0]] { reader(fd, out_); });
  err_thread_ = std::thread([this, fd = err_pipe[0]] { reader(fd, err_); });
}

void ChildProcess::reader(int fd, std::string& sink) {
  char buffer[4096];
  for (;;) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    std::lock_guard lock(mutex_);
    sink.append(buffer, static_cast<std::size_t>(n));
    changed_.notify_all();
  }
  close(fd);
  std::lock_guard lock(mutex_);
  (&sink == &out_ ? out_done_ : err_done_) = true;
  changed_.notify_all();
}

ChildProcess::~ChildProcess() {
  if (!exit_code_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
  check_log_for_secrets();
}

// A non-throwing Catch check: it also runs from the destructor, at the end of the test's scope.
void ChildProcess::check_log_for_secrets() {
  if (!serve_ || log_checked_) return;
  log_checked_ = true;
  for (const auto& leak : secrets::leaked_in(err())) FAIL_CHECK("serve logged a test secret: " << leak);
}

void ChildProcess::signal(int sig) {
  if (!exit_code_) ::kill(pid_, sig);
}

int ChildProcess::wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return *exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("process " + std::to_string(pid_) + " still running after timeout");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Output is complete once both pipes closed.
  {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(5), [this] { return out_done_ && err_done_; });
  }
  check_log_for_secrets();
  return *exit_code_;
}

std::string ChildProcess::wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::string line;
  const bool found = changed_.wait_for(lock, timeout, [&] {
    const auto at = err_.find(needle);
    if (at == std::string::npos) return err_done_;
    const auto begin = err_.rfind('\n', at);
    const auto end = err_.find('\n', at);
    line = err_.substr(
        begin == std::string::npos ? 0 : begin + 1,
        end == std::string::npos ? std::string::npos : end - (begin == std::string::npos ? 0 : begin + 1));
    return true;
  });
  if (!found || line.empty()) {
    throw std::runtime_error("stderr never showed '" + needle + "'; it has:\n" + err_);
  }
  return line;
}

std::string ChildProcess::out() const {
  std::lock_guard lock(mutex_);
  return out_;
}

std::string ChildProcess::err() const {
  std::lock_guard lock(mutex_);
  return err_;
}

CommandResult run_command(std::vector<std::string> args, EnvChanges env, std::optional<std::string> stdin_text,
                          std::chrono::milliseconds time_limit) {
  ChildProcess child(std::move(args), std::move(env), std::move(stdin_text));
  const int code = child.wait(time_limit);  // on a throw, the child's destructor kills it
  return CommandResult{code, child.out(), child.err()};
}

std::vector<std::string> callproxy_args(std::vector<std::string> args) {
  args.insert(args.begin(), CALLPROXY_BIN);
  return args;
}

ServeProcess start_serve(std::vector<std::string> extra_args, EnvChanges env, std::vector<std::string> launcher) {
  std::vector<std::string> args{"serve", "--bind", "127.0.0.1", "--port", "0"};
  const auto given = [&](const std::string& flag) {
    return std::find(extra_args.begin(), extra_args.end(), flag) != extra_args.end();
  };
  // Two loops unless a test pins its calls to one; no shared state file unless it asks for one.
  if (!given("--threads")) args.insert(args.end(), {"--threads", "2"});
  if (!given("--store")) args.insert(args.end(), {"--store", "memory"});
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  ServeProcess serve;
  auto command = callproxy_args(args);
  command.insert(command.begin(), launcher.begin(), launcher.end());
  serve.process = std::make_unique<ChildProcess>(std::move(command), std::move(env));
  const auto line = serve.process->wait_for_stderr("listening on 127.0.0.1:");
  const auto colon = line.find("127.0.0.1:") + std::strlen("127.0.0.1:");
  serve.port = static_cast<unsigned short>(std::stoi(line.substr(colon)));
  return serve;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

std::size_t longest_line(const std::string& text) {
  std::size_t longest = 0;
  for (std::size_t begin = 0; begin < text.size();) {
    const auto end = std::min(text.find('\n', begin), text.size());
    longest = std::max(longest, end - begin);
    begin = end + 1;
  }
  return longest;
}

unsigned short free_port() {
  // The kernel may hand the same port to two binds in a row once the first socket is closed, so
  // two ports chosen back to back (nginx's https and http, Redis's plain and TLS) could be one:
  // nginx then read both listens as one ssl port and refused to start. A port handed out once in
  // this process is never handed out again. (Test processes running side by side can still
  // meet on a port: only one process's own choices are remembered.)
  static std::mutex mutex;
  static std::set<unsigned short> handed_out;
  for (int attempt = 0; attempt < 64; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("cannot bind a loopback port");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    const std::lock_guard lock(mutex);
    if (handed_out.insert(ntohs(addr.sin_port)).second) return ntohs(addr.sin_port);
  }
  throw std::runtime_error("no loopback port that this test has not used already");
}

bool can_use_mount_namespaces() {
  if (::geteuid() != 0) return false;
  static const bool works =
      run_command({"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/true"}).exit_code == 0;
  return works;
}

std::vector<std::string> in_private_mount_namespace(const std::string& setup) {
  return {"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", setup + " && exec \"$@\"", "sh"};
}

std::string make_test_certificate(const std::string& name) {
  const std::string dir = temp_path("tls-" + name);
  const auto made = run_command({"/bin/sh", "-c",
                                 "mkdir -p " + dir +
                                     " && openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
                                     "-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout " +
                                     dir + "/key.pem -out " + dir + "/cert.pem 2>&1"});
  if (made.exit_code != 0) throw std::runtime_error("openssl could not make a test certificate: " + made.out);
  return dir;
}

}  // namespace callproxy::test
