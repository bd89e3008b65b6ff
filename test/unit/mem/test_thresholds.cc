// Memory thresholds (core_shim/mem/mem.cc): the spec §3 rule for
// E_CORE_SHM_THRESHOLD / E_CORE_PKG_THRESHOLD, step by step, through a fake
// core-event hook (decisions §30).
#include <stdint.h>

#include <thread>
#include <vector>

#include "api/hooks.h"
#include "mem/pools.h"
#include "opensips/core_hooks.h"
#include "opensips/host.h"
#include "opensips/mem.h"

#include "../cmocka_cxx.h" // last

using namespace shim;

namespace {

struct raise_rec {
	int usage, threshold, used, size, pid;
};
std::vector<raise_rec> g_shm, g_pkg;
int g_nested_allocs = 0;

void fake_shm(int usage, int threshold, int used, int size)
{
	g_shm.push_back({usage, threshold, used, size, 0});
}

void fake_pkg(int usage, int threshold, int used, int size, int pid)
{
	g_pkg.push_back({usage, threshold, used, size, pid});
}

// A hook that allocates (as raising an event may): must not recurse.
void allocating_shm(int usage, int threshold, int used, int size)
{
	fake_shm(usage, threshold, used, size);
	void *p = shm_malloc(300);
	g_nested_allocs++;
	shm_free(p);
}

void install(bool allocating = false)
{
	core_event_hooks h{};
	h.size = sizeof h;
	h.shm_threshold = allocating ? allocating_shm : fake_shm;
	h.pkg_threshold = fake_pkg;
	shim_set_core_event_hooks(nullptr);
	shim_set_core_event_hooks(&h);
}

int setup(void **)
{
	g_shm.clear();
	g_pkg.clear();
	g_nested_allocs = 0;
	pools_configure(1000, 1000);
	pools_set_thresholds(0, 0);
	pools_reset_threshold_state();
	install();
	return 0;
}

int teardown(void **)
{
	pools_set_thresholds(0, 0);
	shim_set_core_event_hooks(nullptr);
	return 0;
}

void test_disabled_by_default(void **)
{
	void *a = shm_malloc(900);
	void *b = pkg_malloc(900);
	shm_free(a);
	pkg_free(b);
	assert_int_equal(g_shm.size(), 0);
	assert_int_equal(g_pkg.size(), 0);
}

// The rule on shm, one step at a time (threshold 10%, pool 1000 bytes).
void test_shm_rule(void **)
{
	pools_set_thresholds(10, 0);
	void *a = shm_malloc(50); // 5%: below, last 0
	assert_int_equal(g_shm.size(), 0);
	void *b = shm_malloc(50); // 10%: at the threshold -> raise
	assert_int_equal(g_shm.size(), 1);
	assert_int_equal(g_shm[0].usage, 10);
	assert_int_equal(g_shm[0].threshold, 10);
	assert_int_equal(g_shm[0].used, 100);
	assert_int_equal(g_shm[0].size, 1000);
	void *c = shm_malloc(5); // 10% again: same value, nothing
	assert_int_equal(g_shm.size(), 1);
	void *d = shm_malloc(100); // 20%: a new value -> raise
	assert_int_equal(g_shm.size(), 2);
	assert_int_equal(g_shm[1].usage, 20);
	assert_int_equal(g_shm[1].used, 205);
	shm_free(d); // 10%: still at/above, changed -> raise
	assert_int_equal(g_shm.size(), 3);
	assert_int_equal(g_shm[2].usage, 10);
	shm_free(c); // 10%: unchanged
	assert_int_equal(g_shm.size(), 3);
	// Drop from exactly last == threshold: no recovery event.
	shm_free(b); // 5%
	assert_int_equal(g_shm.size(), 3);
	void *e = shm_malloc(200); // 25% -> raise
	assert_int_equal(g_shm.size(), 4);
	assert_int_equal(g_shm[3].usage, 25);
	// Drop from above: one recovery event with usage below the threshold.
	shm_free(e); // 5%
	assert_int_equal(g_shm.size(), 5);
	assert_int_equal(g_shm[4].usage, 5);
	assert_int_equal(g_shm[4].threshold, 10);
	assert_int_equal(g_shm[4].used, 50);
	void *f = shm_malloc(10); // 6%: below, last 5 -> nothing more
	shm_free(f);
	assert_int_equal(g_shm.size(), 5);
	shm_free(a);
	assert_int_equal(g_shm.size(), 5);
}

// shm_realloc is an allocator operation too.
void test_shm_realloc_checks(void **)
{
	pools_set_thresholds(10, 0);
	void *a = shm_malloc(10);
	a = shm_realloc(a, 300); // 30%
	assert_int_equal(g_shm.size(), 1);
	assert_int_equal(g_shm[0].usage, 30);
	a = shm_realloc(a, 10); // recovery
	assert_int_equal(g_shm.size(), 2);
	assert_int_equal(g_shm[1].usage, 1);
	shm_free(a);
}

// `last` moves even when nobody installed a hook: a later hook sees no
// repeat of a value that was already "raised".
void test_last_kept_without_hook(void **)
{
	shim_set_core_event_hooks(nullptr);
	pools_set_thresholds(10, 0);
	void *a = shm_malloc(300); // 30%, raised to nobody
	install();
	void *b = shm_malloc(1); // still 30%
	assert_int_equal(g_shm.size(), 0);
	shm_free(b);
	shm_free(a); // 0%: recovery, since last (30) > threshold
	assert_int_equal(g_shm.size(), 1);
	assert_int_equal(g_shm[0].usage, 0);
}

// A hook that allocates shm does not re-enter the check.
void test_no_recursion(void **)
{
	install(true);
	pools_set_thresholds(10, 0);
	void *a = shm_malloc(200); // 20% -> raise; the hook allocates 300 (50%)
	assert_int_equal(g_nested_allocs, 1);
	assert_int_equal(g_shm.size(), 1);
	assert_int_equal(g_shm[0].usage, 20);
	shm_free(a);
	assert_int_equal(g_shm.size(), 2); // recovery (the hook ran again)
	assert_int_equal(g_nested_allocs, 2);
}

void test_pkg_rule_and_pid(void **)
{
	pools_set_thresholds(0, 20);
	void *a = pkg_malloc(199); // 19%
	assert_int_equal(g_pkg.size(), 0);
	void *b = pkg_malloc(1); // 20% -> raise
	assert_int_equal(g_pkg.size(), 1);
	assert_int_equal(g_pkg[0].usage, 20);
	assert_int_equal(g_pkg[0].threshold, 20);
	assert_int_equal(g_pkg[0].used, 200);
	assert_int_equal(g_pkg[0].size, 1000);
	assert_int_equal(g_pkg[0].pid, shim_my_pid());
	b = pkg_realloc(b, 301); // 50%
	assert_int_equal(g_pkg.size(), 2);
	assert_int_equal(g_pkg[1].usage, 50);
	pkg_free(b); // 19%: recovery
	assert_int_equal(g_pkg.size(), 3);
	assert_int_equal(g_pkg[2].usage, 19);
	pkg_free(a);
	assert_int_equal(g_pkg.size(), 3);
	assert_int_equal(g_shm.size(), 0); // shm threshold is off
}

// Each thread has its own pkg pool and its own `last`.
void test_pkg_state_is_per_thread(void **)
{
	pools_set_thresholds(0, 10);
	void *a = pkg_malloc(500); // 50% here
	assert_int_equal(g_pkg.size(), 1);
	int main_pid = shim_my_pid();
	int other_pid = 0;
	std::thread t([&] {
		other_pid = shim_my_pid();
		// 50% in this thread too: its own `last` is 0, so it raises.
		void *b = pkg_malloc(500);
		pkg_free(b); // recovery in this thread
	});
	t.join();
	assert_int_equal(g_pkg.size(), 3);
	assert_int_equal(g_pkg[1].usage, 50);
	assert_int_equal(g_pkg[1].pid, other_pid);
	assert_int_equal(g_pkg[2].usage, 0);
	assert_int_equal(g_pkg[2].pid, other_pid);
	assert_int_not_equal(other_pid, main_pid);
	void *c = pkg_malloc(1); // main thread: still 50%, last 50
	assert_int_equal(g_pkg.size(), 3);
	pkg_free(c);
	pkg_free(a);
	assert_int_equal(g_pkg.size(), 4);
	assert_int_equal(g_pkg[3].pid, main_pid);
}

// used/size are reported through 32 bits, as OpenSIPS reads its longs.
void test_used_and_size_truncated(void **)
{
	const size_t big = (size_t)5 << 30; // 5 GiB pool, never really used
	pools_configure(big, 1000);
	pools_set_thresholds(1, 0);
	// Reserve 3 GiB worth of accounting without touching the memory: the
	// block is malloc'ed lazily by the OS, so this stays cheap.
	void *a = shm_malloc((size_t)3 << 30);
	if (!a) {
		skip();
		return;
	}
	assert_int_equal(g_shm.size(), 1);
	assert_int_equal(g_shm[0].usage, 60);
	assert_int_equal(g_shm[0].used, (int)(uint32_t)((size_t)3 << 30));
	assert_int_equal(g_shm[0].size, (int)(uint32_t)big);
	shm_free(a);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_disabled_by_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shm_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shm_realloc_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_kept_without_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_recursion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pkg_rule_and_pid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pkg_state_is_per_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_used_and_size_truncated, setup, teardown),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
