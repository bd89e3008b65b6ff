#include "api/hooks.h"
#include "api/script-t.h"

#include <vector>

#include "opensips/dprint.h"
#include "opensips/host.h"

namespace shim {
struct core_event_hooks g_core_hooks = {};
namespace {
std::vector<void (*)(void)> g_post_fixup;
std::vector<std::pair<void (*)(void *), void *>> g_sighup;
}

void run_sighup_cbs()
{
	for (auto &cb : g_sighup)
		cb.first(cb.second);
}

void run_post_fixup_cbs()
{
	for (auto cb : g_post_fixup)
		cb();
}
} // namespace shim

extern "C" int shim_set_core_event_hooks(const struct core_event_hooks *hooks)
{
	static bool owned = false;
	if (!hooks) {
		shim::g_core_hooks = core_event_hooks{};
		owned = false;
		return 0;
	}
	if (hooks->size != sizeof(core_event_hooks)) {
		LM_ERR("core event hooks of %u bytes, this host takes %zu: rebuild the "
		       "module against this host's headers\n", hooks->size,
		       sizeof(core_event_hooks));
		return -1;
	}
	if (owned) {
		LM_ERR("core event hooks are installed already (one owner: core_events)\n");
		return -1;
	}
	shim::g_core_hooks = *hooks;
	owned = true;
	return 0;
}

extern "C" int shim_add_post_fixup_cb(void (*cb)(void))
{
	if (!cb)
		return -1;
	shim::g_post_fixup.push_back(cb);
	return 0;
}

extern "C" int shim_add_sighup_cb(void (*cb)(void *param), void *param)
{
	if (!cb)
		return -1;
	shim::g_sighup.emplace_back(cb, param);
	return 0;
}

namespace shim {
script_runner g_script_runner{}; // filled by cfg/interp.cc (static init)
} // namespace shim
