// Pools: accounting, limits, per-thread pkg.

#include <thread>

#include "mem/pools.h"
#include "opensips/mem.h"

#include "../cmocka_cxx.h"

using namespace shim;

static void test_shm_accounts_and_limits(void **)
{
	pools_configure(1000, 1000);
	size_t base = shm_used();
	void *a = shm_malloc(400);
	assert_non_null(a);
	assert_int_equal(shm_used(), base + 400);
	void *b = shm_malloc(700); // would pass the size
	assert_null(b);
	assert_int_equal(shm_used(), base + 400);
	a = shm_realloc(a, 900);
	assert_non_null(a);
	assert_int_equal(shm_used(), base + 900);
	assert_null(shm_realloc(a, 2000)); // a stays valid
	a = shm_realloc(a, 100);
	assert_int_equal(shm_used(), base + 100);
	shm_free(a);
	assert_int_equal(shm_used(), base);
	shm_free(nullptr);
}

static void test_pkg_is_per_thread(void **)
{
	pools_configure(1 << 20, 1000);
	void *a = pkg_malloc(600);
	assert_non_null(a);
	assert_int_equal(pkg_used(), 600);
	assert_null(pkg_malloc(600));
	size_t other_used = 1;
	bool other_ok = false;
	std::thread t([&] {
		void *b = pkg_malloc(600); // another thread has its own pool
		other_ok = b != nullptr;
		other_used = pkg_used();
		pkg_free(b);
	});
	t.join();
	assert_true(other_ok);
	assert_int_equal(other_used, 600);
	pkg_free(a);
	assert_int_equal(pkg_used(), 0);
	assert_int_equal(pkg_size(), 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shm_accounts_and_limits),
		cmocka_unit_test(test_pkg_is_per_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
