// Host-side pool configuration (module API in include/opensips/mem.h).
#pragma once

#include <stddef.h>

namespace shim {

// Sizes from -m / -M, before any thread starts.
void pools_configure(size_t shm_bytes, size_t pkg_bytes);

} // namespace shim
