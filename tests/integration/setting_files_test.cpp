// Files serve's settings name (the pins file, the config file, TLS certificates, keys and CA
// files, the SQLite store): anything but a regular file stops serve at once with exit 2, saying
// which setting and what the file is, and never hangs it; a file over its size limit is refused;
// SIGHUP reads the pins file off the event loops, so what the file has become never stalls
// connections or signals.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <vector>

#include "core/regular_file.h"
#include "proxy/callers/pin_directory.h"
#include "proxy/callers/pin_reloader.h"
#include "support/child_process.h"
#include "support/http_client.h"
#include "support/wait.h"
#include "test_data.h"

using namespace callproxy;
using namespace std::chrono_literals;

namespace {

// A directory of its own for one test, with a FIFO nobody writes to; removed with what it holds.
struct TempDirectory {
  TempDirectory() {
    if (::mkdir(path.c_str(), 0700) != 0) throw std::runtime_error("cannot make " + path);
    if (::mkfifo(fifo.c_str(), 0600) != 0) throw std::runtime_error("cannot make the FIFO " + fifo);
  }
  ~TempDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDirectory(const TempDirectory&) = delete;
  TempDirectory& operator=(const TempDirectory&) = delete;

  std::string file(const std::string& name, const std::string& text) const {
    const auto where = path + "/" + name;
    std::ofstream(where, std::ios::binary) << text;
    return where;
  }
  // A file of `size` bytes holding nothing (sparse: no disk is spent on it).
  std::string sized(const std::string& name, std::size_t size) const {
    const auto where = file(name, "");
    if (::truncate(where.c_str(), static_cast<off_t>(size)) != 0) throw std::runtime_error("cannot size " + where);
    return where;
  }

  std::string path = test::temp_path("files");
  std::string fifo = path + "/fifo";
};

// serve with `args`, expected to refuse them at start; a serve that hangs fails the test, killed.
test::CommandResult serve_refusing(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"serve", "--bind", "127.0.0.1", "--port", "0"};
  if (std::find(args.begin(), args.end(), "--store") == args.end()) argv.insert(argv.end(), {"--store", "memory"});
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run_command(test::callproxy_args(argv), {}, {}, 10s);
}

bool pin_accepted(unsigned short port, const std::string& pin) {
  const auto reply = test::http_request(port, "POST", "/validate-pin", {{"Content-Type", "application/json"}},
                                        R"({"pin":")" + pin + R"(","callerId":"+15550001"})");
  return reply.status == 200 && nlohmann::json::parse(reply.body).at("authenticated") == true;
}

std::string pins_with(const std::string& pin) { return R"([{"pin":")" + pin + R"(","backendHosts":["a.example:1"]}])"; }

}  // namespace

TEST_CASE("a FIFO or a device named by any file setting stops serve at once with exit 2, saying what it is",
          "[cli][files]") {
  const TempDirectory dir;
  const auto tls = test::make_test_certificate("setting-files");
  for (const auto& [special, what] : std::vector<std::pair<std::string, std::string>>{
           {"/dev/zero", "is a character device, not a regular file"}, {dir.fifo, "is a FIFO, not a regular file"}}) {
    const auto config_naming_it = dir.file("naming.toml", "pins-file = \"" + special + "\"\n");
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"--pins-file", special}, "--pins-file '" + special + "': "},
        {{"--config", special}, "config file " + special + ": "},
        {{"--config", config_naming_it}, "--pins-file '" + special + "': "},
        {{"--tls-cert", special, "--tls-key", tls + "/key.pem"}, "--tls-cert '" + special + "': "},
        {{"--tls-cert", tls + "/cert.pem", "--tls-key", special}, "--tls-key '" + special + "': "},
        {{"--backend-ca", special}, "--backend-ca: CA file '" + special + "': "},
        {{"--store", "rediss://127.0.0.1:1", "--redis-ca", special}, "--redis-ca: CA file '" + special + "': "},
        {{"--store", "sqlite:" + special}, "--store sqlite:" + special + ": "},
    };
    for (const auto& [args, setting] : cases) {
      INFO(args.at(0) << " " << args.at(1));
      const auto refused = serve_refusing(args);
      INFO(refused.err);
      CHECK(refused.exit_code == 2);
      CHECK(refused.err.find(setting + what) != std::string::npos);
      CHECK(refused.err.find("listening") == std::string::npos);
    }
  }
}

TEST_CASE("a pins file or config file over its size limit is refused at start, naming the limit", "[cli][files]") {
  const TempDirectory dir;
  const auto big_pins = dir.sized("pins.json", proxy::max_pins_file_bytes + 1);
  const auto pins = serve_refusing({"--pins-file", big_pins});
  CHECK(pins.exit_code == 2);
  CHECK(pins.err.find("--pins-file '" + big_pins + "': is 16777217 bytes, over the limit of 16 MiB") !=
        std::string::npos);
  const auto big_config = dir.sized("callproxy.toml", (std::size_t{1} << 20) + 1);
  const auto config = serve_refusing({"--config", big_config});
  CHECK(config.exit_code == 2);
  CHECK(config.err.find("config file " + big_config + ": is 1048577 bytes, over the limit of 1 MiB") !=
        std::string::npos);

  // At the limit a file is read: an empty list padded with spaces to 16 MiB.
  auto at_limit = pins_with("2468");
  at_limit.resize(proxy::max_pins_file_bytes, ' ');
  auto serve = test::start_serve({"--pins-file", dir.file("at-limit.json", at_limit)});
  CHECK(pin_accepted(serve.port, "2468"));
}

TEST_CASE("a file is read whole when regular and within its limit, through a symlink too, and refused otherwise",
          "[files]") {
  const TempDirectory dir;
  const auto regular = dir.file("text", "hello");
  const auto link = dir.path + "/link";
  REQUIRE(::symlink(regular.c_str(), link.c_str()) == 0);
  CHECK(read_regular_file(regular, 5).value() == "hello");
  CHECK(read_regular_file(link, 5).value() == "hello");
  CHECK(read_regular_file(regular, 4).error() == "is 5 bytes, over the limit of 4 bytes");
  CHECK(read_regular_file(dir.fifo, 5).error() == "is a FIFO, not a regular file");
  CHECK(read_regular_file(dir.path, 5).error() == "is a directory, not a regular file");
  CHECK(read_regular_file("/dev/zero", 5).error() == "is a character device, not a regular file");
  CHECK(read_regular_file(dir.path + "/none", 5).error() == "cannot be opened: No such file or directory");
  // A regular file whose size fstat does not know (/proc says 0) is still cut at the limit.
  CHECK(read_regular_file("/proc/self/maps", 16).error() == "is over the limit of 16 bytes");
  CHECK(not_regular_file(regular).empty());
  CHECK(not_regular_file(dir.path + "/none").empty());
  CHECK(not_regular_file(dir.fifo) == "is a FIFO, not a regular file");
}

TEST_CASE("a pins reload reads the file off the loop and the loop puts the new set in place", "[files][pins]") {
  const TempDirectory dir;
  const auto path = dir.file("pins.json", pins_with("1111"));
  proxy::PinDirectory pins(path);
  std::mutex mutex;
  std::vector<std::function<void()>> posted;  // the "loop": what the reloader handed back to it
  const auto run_posted = [&] {
    std::vector<std::function<void()>> tasks;
    {
      std::lock_guard lock(mutex);
      tasks.swap(posted);
    }
    for (auto& task : tasks) task();
    return tasks.size();
  };
  proxy::PinReloader reloader(pins, [&](std::function<void()> task) {
    std::lock_guard lock(mutex);
    posted.push_back(std::move(task));
  });

  dir.file("pins.json", pins_with("2222"));
  reloader.request();
  reloader.request();  // while the first reads: one more after it, however many are asked for
  reloader.request();
  // Read on a thread of its own, installed only when the loop runs what it was handed.
  REQUIRE(test::eventually([&] {
    std::lock_guard lock(mutex);
    return posted.size() == 1;
  }));
  CHECK(pins.find("1111"));
  CHECK(run_posted() == 1);
  CHECK(pins.find("2222"));
  CHECK_FALSE(pins.find("1111"));
  // The reload asked for meanwhile, and only one.
  REQUIRE(test::eventually([&] {
    std::lock_guard lock(mutex);
    return posted.size() == 1;
  }));
  CHECK(run_posted() == 1);
  CHECK_FALSE(test::eventually([&] { return run_posted() > 0; }, 200ms));

  // A FIFO in the file's place is refused without waiting for a writer; the set in use stays.
  std::remove(path.c_str());
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  reloader.request();
  REQUIRE(test::eventually([&] { return run_posted() == 1; }));
  CHECK(pins.find("2222"));
}

TEST_CASE("SIGHUP with the pins file replaced by a FIFO: /healthz answers, the old PINs work, SIGTERM ends serve",
          "[serve][files][pins]") {
  const TempDirectory dir;
  const auto path = dir.file("pins.json", pins_with("1357"));
  auto serve = test::start_serve({"--pins-file", path});
  REQUIRE(pin_accepted(serve.port, "1357"));

  std::remove(path.c_str());
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  serve.process->signal(SIGHUP);
  serve.process->wait_for_stderr("is a FIFO, not a regular file; keeping the 1 entries in use", 5s);
  const auto asked = std::chrono::steady_clock::now();
  CHECK(test::http_request(serve.port, "GET", "/healthz").status == 200);
  CHECK(std::chrono::steady_clock::now() - asked < 2s);
  CHECK(pin_accepted(serve.port, "1357"));

  // A regular file again: the next SIGHUP reads it.
  std::remove(path.c_str());
  dir.file("pins.json", pins_with("8642"));
  serve.process->signal(SIGHUP);
  serve.process->wait_for_stderr("SIGHUP: 1 PIN entries reloaded", 5s);
  CHECK(pin_accepted(serve.port, "8642"));

  serve.process->signal(SIGTERM);
  CHECK(serve.process->wait(5s) == 0);
}
