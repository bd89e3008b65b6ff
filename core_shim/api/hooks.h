// The installed core-event hooks (include/opensips/core_hooks.h). Call sites
// test the pointer: `if (auto f = g_core_hooks.threshold) f(...)`. Hooks are
// installed during module load/init, before any worker thread starts.
#pragma once

#include "opensips/core_hooks.h"

namespace shim {

extern struct core_event_hooks g_core_hooks;

// Runs the callbacks added with shim_add_post_fixup_cb (main thread, after
// cfg_fixup, before threads start).
void run_post_fixup_cbs();

// Runs the callbacks added with shim_add_sighup_cb (main thread, SIGHUP).
void run_sighup_cbs();

} // namespace shim
