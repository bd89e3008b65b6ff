// Shared set-up for the cfg unit tests: a clean host (no script, no
// modules, default globals, no auto-loaded core modules) and testmod.so from
// $BUILD/test-modules (tests run from the repository root).
#pragma once

#include <dlfcn.h>
#include <stdlib.h>

#include <string>

#include "settings/globals.h"
#include "cfg/script.h"
#include "mi/mi_core.h"
#include "modules/loader.h"
#include "opensips/host.h"
#include "opensips/mem.h"
#include "opensips/mi.h"

namespace cfgtest {

inline std::string build_dir()
{
	const char *b = getenv("BUILD");
	return b && *b ? b : "build";
}

inline std::string testmod_dir() { return build_dir() + "/test-modules"; }

// testmod.so resolves these from the test binary: keep them linked in.
inline void *const keep_symbols[] = {
    (void *)&shm_malloc, (void *)&shm_free, (void *)&pkg_malloc,
    (void *)&init_mi_result_string, (void *)&init_mi_error_extra,
    (void *)&init_mi_param_error, (void *)&get_mi_int_param,
    // status_report.so (test_loader's auto-load case)
    (void *)&add_mi_array, (void *)&add_mi_bool, (void *)&add_mi_int,
    (void *)&add_mi_object, (void *)&add_mi_string, (void *)&free_mi_response,
    (void *)&get_mi_string_param, (void *)&init_mi_result_array,
    (void *)&init_mi_result_object, (void *)&shim_add_lifecycle_cb,
    (void *)&shim_get_state, (void *)&shim_register_api,
    (void *)&shim_find_api,
};

// unload = false keeps the shared objects mapped: a module whose load_f
// allocated state (status_report, core_events) must stay mapped for the
// leak checker to see that state as reachable.
inline void reset_host(bool unload = true)
{
	static void *volatile sink;
	for (void *p : keep_symbols) sink = p;
	(void)sink;
	shim::cfg_reset();
	shim::modules_destroy();
	shim::modules_reset(unload);
	shim::mi_reset();
	shim::g_globals = shim::core_globals{};
	shim::g_globals.auto_load_core_modules = false;
}

// Parses `text` named "t.cfg" with testmod loaded first. 0 / -1, *err.
inline int parse(const std::string &text, std::string &err)
{
	std::string pre = "auto_load_core_modules = no\nmpath = \"" +
	                  testmod_dir() + "\"\n";
	return shim::cfg_parse_string(pre + text, "t.cfg", err);
}

// Parses with the preamble above plus loadmodule "testmod.so", then runs
// modules_init and cfg_fixup. Line numbers of `text` start at 4.
inline int load(const std::string &text, std::string &err)
{
	if (parse("loadmodule \"testmod.so\"\n" + text, err) < 0) return -1;
	if (shim::modules_init(err) < 0) return -1;
	return shim::cfg_fixup(err);
}

template <typename F> F probe(const char *name)
{
	const shim::loaded_module *m = shim::module_find("testmod");
	return m ? (F)dlsym(m->handle, name) : nullptr;
}

inline std::string last() { return probe<const char *(*)()>("testmod_last")(); }
inline int calls() { return probe<int (*)()>("testmod_calls")(); }

} // namespace cfgtest
