// The MI core: command table, JSON-RPC handling, core:* commands.
#pragma once

#include <functional>
#include <string>

#include "opensips/mi.h"
#include <utility>
#include <vector>

namespace shim {

// Registers the host's own commands (core:which help version uptime pwd
// arg ps kill log_level xlog_level). Called once by main before modules
// init.
void mi_register_core_commands();

// argv as given to the host (core:arg).
void mi_set_argv(int argc, char **argv);

// Canonical names in registration order (what `which` lists).
std::vector<std::string> mi_command_names();

// Drops every registered command (unit tests).
void mi_reset();

// MI requests are counted per transport name given to mi_run_jsonrpc()
// ("fifo", "datagram", "http") in mi:requests/<transport>.

struct proc_entry;

// {"Processes":[row(entry)...]} over the roster (only running threads when
// running_only). row() adds the members of one process object; < 0 fails.
mi_response_t *mi_process_list(
    bool running_only,
    const std::function<int(mi_item_t *, const proc_entry *)> &row);

} // namespace shim
