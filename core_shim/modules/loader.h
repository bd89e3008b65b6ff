// The module loader (spec §6.2, decisions.md §1).
#pragma once

#include <string>
#include <vector>

#include "opensips/sr_module.h"

namespace shim {

struct loaded_module {
	std::string name;       // exports.name
	std::string path;       // file opened ("" for built-ins)
	void *handle = nullptr; // dlopen handle
	const module_exports *exp = nullptr;
	bool auto_loaded = false;
	bool initialised = false;
};

// Directory searched when the cfg sets no mpath: <dir of the executable>/
// modules, else <dir of the executable>/../lib/opensips-shim/modules.
std::string default_module_dir();

// `loadmodule "x"`: resolves x (built-in names, absolute paths, mpath
// search with the <name>/<name>.so fallback), dlopens, checks the version
// strings, runs load_f. `file:line` is used in the error text. 0 / -1 with
// *err set ("file:line: ...").
int module_load(const std::string &name, const std::string &file, int line,
                std::string &err);
// Loads status_report, core_events, event_profiling (those that exist in
// the module directory) before the cfg's own modules. 0 / -1.
int module_load_core_set(std::string &err);

// `modparam(regex, param, value)`. is_str selects STR_PARAM vs INT_PARAM.
int module_set_param(const std::string &mod_regex, const std::string &param,
                     bool is_str, const std::string &sval, long ival,
                     const std::string &file, int line, std::string &err);

// preinit (reverse load order), then init (load order, dependencies first);
// each module's MI commands are registered right after its init. 0 / -1.
int modules_init(std::string &err);
// child_init(rank) of every module, in load order, on the calling thread.
int modules_child_init(int rank);
void modules_destroy();
// Unloads every module (dlclose) and empties the list: tests only, after
// modules_destroy().
// Forgets every module (after modules_destroy). With `unload` the shared
// objects are dlclose()d too (tests that load again); at process exit the
// host keeps them mapped, so module code and data stay valid for the
// exit-time destructors and leak checkers can name module frames.
void modules_reset(bool unload = true);

const std::vector<loaded_module *> &modules_list();
const loaded_module *module_find(const std::string &name);
// A script function by exact name; owner set when found.
const cmd_export_t *module_find_cmd(const std::string &name,
                                    const loaded_module **owner);

} // namespace shim
