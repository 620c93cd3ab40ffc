// What `callproxy client-test --flow` printed: one JSON object per step (docs/tools.md).
#pragma once

#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace callproxy::test {

// Every JSON line of `out`, in order.
inline std::vector<nlohmann::json> flow_steps(const std::string& out) {
  std::vector<nlohmann::json> steps;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) steps.push_back(nlohmann::json::parse(line));
  }
  return steps;
}

// The steps called `name` ("stream", "dial", ...), in order.
inline std::vector<nlohmann::json> steps_named(const std::vector<nlohmann::json>& steps, const std::string& name) {
  std::vector<nlohmann::json> out;
  for (const auto& s : steps) {
    if (s.at("step") == name) out.push_back(s);
  }
  return out;
}

}  // namespace callproxy::test
