// The host's own MI command tables (core:, evi:, statistics:, the log
// commands): declared here, below every layer that has commands, and
// registered by the MI table (mi/mi_table.cc).
#pragma once

#include "opensips/mi.h"

namespace shim::mi {

// The host's own MI commands, declared with the fields of mi_export_t but
// room for fewer recipes and aliases: an mi_export_t is 8 KB (48 recipe
// slots), and the loader's relocations write every page of a static table
// of them at startup, resident for good.
struct host_mi_cmd {
	const char *name; // NULL ends the table
	const char *help;
	unsigned int flags;
	mi_child_init_f *init_f;
	mi_recipe_t recipes[4]; // NULL-ended when fewer
	const char *aliases[2]; // NULL-ended when fewer
};
// register_mi_mod for a host table. 0 / -1.
int register_host_mi(const char *ns, const host_mi_cmd *cmds);

} // namespace shim::mi
