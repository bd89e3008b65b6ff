// API registry and lifecycle listeners.

#include <vector>

#include "api/registry.h"
#include "opensips/host.h"

#include "../cmocka_cxx.h"

static void test_api_publish_and_find(void **)
{
	static int api_a = 1, api_b = 2;
	assert_int_equal(shim_register_api("unit_a", &api_a), 0);
	assert_int_equal(shim_register_api("unit_b", &api_b), 0);
	assert_int_equal(shim_register_api("unit_a", &api_b), -1); // duplicate
	assert_ptr_equal(shim_find_api("unit_a"), &api_a);
	assert_ptr_equal(shim_find_api("unit_b"), &api_b);
	assert_null(shim_find_api("unit_c"));
	assert_null(shim_find_api(nullptr));
	assert_int_equal(shim_register_api(nullptr, &api_a), -1);
}

static std::vector<int> g_seen;
static void listener(int state, void *param)
{
	g_seen.push_back(state * (param ? 10 : 1));
}

static void test_lifecycle_listeners_in_order(void **)
{
	assert_int_equal(shim_get_state(), SHIM_STATE_NONE);
	static int marker;
	assert_int_equal(shim_add_lifecycle_cb(listener, nullptr), 0);
	assert_int_equal(shim_add_lifecycle_cb(listener, &marker), 0);
	assert_int_equal(shim_add_lifecycle_cb(nullptr, nullptr), -1);
	shim::lifecycle_set(SHIM_STATE_INITIALIZING);
	shim::lifecycle_set(SHIM_STATE_RUNNING);
	assert_int_equal(shim_get_state(), SHIM_STATE_RUNNING);
	std::vector<int> want = {-1, -10, 1, 10};
	assert_true(g_seen == want);
	assert_false(shim_should_stop());
	shim::lifecycle_mark_stopping();
	assert_true(shim_should_stop());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api_publish_and_find),
		cmocka_unit_test(test_lifecycle_listeners_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
