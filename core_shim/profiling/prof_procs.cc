// Per-thread PROC profiling levels (roster proc_entry::profiling_level) and
// the process list of core:profiling_proc (spec §4.2). The command itself
// is registered by event_profiling; these are its host-side halves.
#include "mi/mi_core.h"
#include "opensips/profiling.h"
#include "proc/roster.h"

namespace {

#define S(x) x, (int)(sizeof(x) - 1)

int add_row(mi_item_t *p, const shim::proc_entry *e)
{
	return add_mi_int(p, S("ID"), e->id) < 0 ||
	               add_mi_int(p, S("PID"), e->pid.load()) < 0 ||
	               add_mi_int(p, S("Profiling level"), e->profiling_level.load()) < 0 ||
	               add_mi_string(p, S("Type"), e->type.data(), (int)e->type.size()) < 0
	           ? -1
	           : 0;
}

// shim_prof_proc_armed: any thread with a level, so START's inline test
// stays one load for everybody else.
void rearm()
{
	int armed = 0;
	int n = shim::roster_size();
	for (int i = 0; i < n && !armed; i++) {
		shim::proc_entry *e = shim::roster_get(i);
		if (e && e->profiling_level.load() > 0) armed = 1;
	}
	__atomic_store_n(&shim_prof_proc_armed, armed, __ATOMIC_RELAXED);
}

} // namespace

extern "C" {

int shim_prof_proc_count(void) { return shim::roster_size(); }

int shim_prof_proc_find_pid(int pid)
{
	if (pid <= 0) return -1;
	int n = shim::roster_size();
	for (int i = 0; i < n; i++) {
		shim::proc_entry *e = shim::roster_get(i);
		if (e && e->pid.load() == pid) return i;
	}
	return -1;
}

mi_response_t *shim_prof_proc_list(int id)
{
	if (id < 0)
		return shim::mi_process_list(false, add_row);
	shim::proc_entry *e = shim::roster_get(id);
	if (!e) return nullptr;
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp) return nullptr;
	mi_item_t *arr = add_mi_array(obj, S("Processes"));
	mi_item_t *p = arr ? add_mi_object(arr, nullptr, 0) : nullptr;
	if (!p || add_row(p, e) < 0) {
		free_mi_response(resp);
		return nullptr;
	}
	return resp;
}

int shim_prof_set_level(int id, int level)
{
	if (level < SHIM_PROF_OFF) level = SHIM_PROF_OFF;
	if (level > SHIM_PROF_FULL) level = SHIM_PROF_FULL;
	if (id >= 0) {
		shim::proc_entry *e = shim::roster_get(id);
		if (!e) return -1;
		e->profiling_level.store(level);
	} else {
		int n = shim::roster_size();
		for (int i = 0; i < n; i++)
			if (shim::proc_entry *e = shim::roster_get(i))
				e->profiling_level.store(level);
	}
	rearm();
	return level;
}

} // extern "C"
