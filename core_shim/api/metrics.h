// Counter sources for shim_collect_samples (include/opensips/stats.h).
// Subsystems that own counters register a collector at startup; the
// collectors run on the exporter's thread and must only read atomics.
#pragma once

#include "opensips/stats.h"

namespace shim {

using sample_collector = void (*)(shim_sample_f visit, void *param);
void metrics_add_collector(sample_collector c);

} // namespace shim
