#include "core/build_info.h"

namespace callproxy {

extern const char* const callproxy_build_commit;  // the generated build_commit.cpp

std::string_view build_version() { return CALLPROXY_VERSION; }
std::string_view build_commit() { return callproxy_build_commit; }

}  // namespace callproxy
