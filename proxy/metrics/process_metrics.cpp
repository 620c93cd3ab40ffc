#include "proxy/metrics/process_metrics.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/build_info.h"

namespace callproxy::proxy {
namespace {

void series(std::string& out, const char* name, const char* type, const char* help, double value) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
}

// /proc/self/stat's fields after the command (which may hold spaces and parentheses).
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(text.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;  // fields[0] is the state (field 3 of proc(5))
}

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
  }
  return 0;
}

}  // namespace

void render_process_metrics(std::string& out) {
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  const auto fields = stat_fields();
  // proc(5): utime 14, stime 15, starttime 22, vsize 23, rss 24; fields[0] is field 3.
  if (fields.size() > 21 && ticks > 0) {
    series(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
           (std::stod(fields[11]) + std::stod(fields[12])) / ticks);
    if (const double boot = boot_time_seconds(); boot > 0) {
      series(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
             boot + std::stod(fields[19]) / ticks);
    }
    series(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", std::stod(fields[20]));
    series(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           std::stod(fields[21]) * page);
  }
  if (DIR* fds = ::opendir("/proc/self/fd")) {
    double open = 0;
    while (const dirent* e = ::readdir(fds)) {
      if (e->d_name[0] != '.') ++open;
    }
    ::closedir(fds);
    series(out, "process_open_fds", "gauge", "Number of open file descriptors.", open - 1);  // less opendir's own
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    series(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
           static_cast<double>(limit.rlim_cur));
  }
  out += fmt::format("# HELP callproxy_build_info The version and git commit of this build (always 1)\n"
                     "# TYPE callproxy_build_info gauge\ncallproxy_build_info{{version=\"{}\",commit=\"{}\"}} 1\n",
                     build_version(), build_commit());
}

}  // namespace callproxy::proxy
