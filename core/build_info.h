// What this build is: callproxy's version and the git commit it was built from ("unknown" when
// built outside a git checkout). The commit is read at every build (core/build_commit.cmake), so
// it never goes stale; /metrics says both (callproxy_build_info) and so does --version.
#pragma once

#include <string_view>

namespace callproxy {

std::string_view build_version();
std::string_view build_commit();

}  // namespace callproxy
