// JSON text out of nlohmann/json values, one way for the whole program: compact, and lenient
// about text that is not UTF-8 (replaced by U+FFFD) so that bytes a peer sent can never make
// serialising throw.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace callproxy {

std::string dump_json(const nlohmann::json& value);

}  // namespace callproxy
