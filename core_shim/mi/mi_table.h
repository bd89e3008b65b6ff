// The MI command table (spec §5.2).
//
// Locking: commands are registered on the main thread during startup and
// the table is read-only afterwards; lookups still take a shared lock so a
// late registration (or mi_reset in unit tests) cannot race a reader.
// Each thread remembers the last name it resolved to one command and uses
// it without the lock while the table's generation (bumped by every
// registration and reset) is unchanged.
// Entries are heap-allocated and never move, so a looked-up entry stays
// valid until mi_reset().
#pragma once

#include <string>
#include <vector>

#include "opensips/mi.h"
#include "util/host_mi.h"

namespace shim::mi {

// What is kept of a module's mi_export_t (its strings are still the
// module's): only the recipes it uses, then one with cmd NULL. A full
// mi_export_t is 8 KB of mostly empty recipe slots, per command.
struct cmd_export {
	const char *help = nullptr;
	unsigned int flags = 0;
	mi_child_init_f *init_f = nullptr;
	std::vector<mi_recipe_t> recipes;
};

struct cmd_entry {
	std::string ns;   // "core"
	std::string name; // "uptime"
	std::string full; // "core:uptime"
	cmd_export exp;
	std::vector<std::string> aliases;
};

struct lookup_result {
	const cmd_entry *cmd = nullptr;
	// Set when the name matched several commands (full names, in
	// registration order): -32001.
	std::vector<std::string> ambiguous;
};


lookup_result lookup(const std::string &method);
// Full names starting with `prefix`, in registration order.
std::vector<std::string> names_with_prefix(const std::string &prefix);
// Canonical names, then (with_aliases) every alias, in registration order.
std::vector<std::string> all_names(bool with_aliases);

} // namespace shim::mi
