// net/addr_text.cc: ipv4_text writes what inet_ntop(AF_INET) writes, for
// the edges of each octet and for many random addresses.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <random>

#include "net/addr_text.h"

#include "../cmocka_cxx.h" // last

namespace {

void check_one(uint32_t host_order)
{
	in_addr a;
	a.s_addr = htonl(host_order);
	char want[INET_ADDRSTRLEN], got[32];
	memset(got, 'x', sizeof got);
	assert_non_null(inet_ntop(AF_INET, &a, want, sizeof want));
	shim::ipv4_text(a, got);
	assert_string_equal(got, want);
}

void edges(void **)
{
	const unsigned octets[] = {0, 1, 9, 10, 11, 99, 100, 101, 199, 200, 249, 250, 255};
	for (unsigned o : octets)
		for (int pos = 0; pos < 4; pos++) {
			uint32_t mask = 0xffu << (8 * pos);
			check_one(o << (8 * pos));                             // zeros around it
			check_one((0x7b7b7b7bu & ~mask) | (o << (8 * pos)));  // among 123s
		}
	check_one(0x7f000001u);  // 127.0.0.1
	check_one(0xffffffffu);  // 255.255.255.255
	check_one(0);            // 0.0.0.0
	char got[32];
	in_addr a;
	a.s_addr = htonl(0xffffffffu);
	shim::ipv4_text(a, got);
	assert_int_equal(strlen(got), 15); // the longest fits in 16 bytes
}

void random_addresses(void **)
{
	std::mt19937 rng(12345);
	for (int i = 0; i < 100000; i++)
		check_one((uint32_t)rng());
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(edges),
		cmocka_unit_test(random_addresses),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
