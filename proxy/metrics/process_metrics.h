// The standard process_* series Prometheus clients export (CPU seconds, resident and virtual
// memory, open and allowed descriptors, start time), read from /proc at each scrape, and
// callproxy_build_info{version,commit}: what dashboards and alerts expect of any exporter.
#pragma once

#include <string>

namespace callproxy::proxy {

// Appends the process_* series of this process and callproxy_build_info to `out` (Prometheus
// text); a /proc file that cannot be read leaves its series out.
void render_process_metrics(std::string& out);

}  // namespace callproxy::proxy
