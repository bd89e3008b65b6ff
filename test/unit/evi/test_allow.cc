// The subscriber allow-list.
#include "evi/evi_allow.h"

#include <string.h>

#include "../cmocka_cxx.h"

using namespace shim;

static void test_unset_allows_anything(void **)
{
	std::string err;
	assert_int_equal(evi_allow_set("", err), 0);
	assert_true(evi_allow_socket("udp", "192.0.2.7:9000"));
	assert_true(evi_allow_socket("tcp", "198.51.100.1:80/m"));
}

static void test_networks(void **)
{
	std::string err;
	assert_int_equal(evi_allow_set(" 127.0.0.0/8, 10.1.0.0/16 ,::1", err), 0);
	assert_true(evi_allow_socket("udp", "127.0.0.1:9000"));
	assert_true(evi_allow_socket("tcp", "127.9.9.9:1/method"));
	assert_true(evi_allow_socket("udp", "10.1.200.3:5"));
	assert_false(evi_allow_socket("udp", "10.2.0.1:5"));
	assert_false(evi_allow_socket("udp", "192.0.2.7:9000"));
	assert_true(evi_allow_socket("udp", "[::1]:9000"));
	assert_false(evi_allow_socket("udp", "[::2]:9000"));
	assert_false(evi_allow_socket("udp", ":9000")); // no host at all
	// local transports never go to a third party
	assert_true(evi_allow_socket("unix", "/tmp/x"));
	assert_true(evi_allow_socket("flatstore", "/tmp/f"));
	assert_true(evi_allow_socket("route", "R"));
}

static void test_prefix_bits(void **)
{
	std::string err;
	assert_int_equal(evi_allow_set("192.168.1.128/25", err), 0);
	assert_true(evi_allow_socket("udp", "192.168.1.200:1"));
	assert_false(evi_allow_socket("udp", "192.168.1.100:1"));
	assert_int_equal(evi_allow_set("0.0.0.0/0", err), 0);
	assert_true(evi_allow_socket("udp", "203.0.113.9:1"));
}

static void test_bad_specs(void **)
{
	std::string err;
	assert_int_equal(evi_allow_set("10.0.0.0/33", err), -1);
	assert_non_null(strstr(err.c_str(), "prefix"));
	assert_int_equal(evi_allow_set("not-an-ip", err), -1);
	assert_non_null(strstr(err.c_str(), "not-an-ip"));
	assert_int_equal(evi_allow_set("10.0.0.0/", err), -1);
	// a refused spec keeps the previous list
	assert_int_equal(evi_allow_set("127.0.0.1", err), 0);
	assert_int_equal(evi_allow_set("bogus", err), -1);
	assert_false(evi_allow_socket("udp", "127.0.0.2:1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unset_allows_anything),
		cmocka_unit_test(test_networks),
		cmocka_unit_test(test_prefix_bits),
		cmocka_unit_test(test_bad_specs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
