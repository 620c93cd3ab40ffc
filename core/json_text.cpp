#include "core/json_text.h"

#include <nlohmann/json.hpp>

namespace callproxy {

std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace callproxy
