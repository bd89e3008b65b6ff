// Cost of the hot path (design.md decision 5: tens of nanoseconds per
// record): a UDP-like session of 8 records, repeated, with the consumer
// draining between batches; and the cost of the hooks when nobody enabled
// them. Prints ns per record; asserts only generous bounds (sanitizer
// builds are slower).
#include <stdio.h>
#include <time.h>

#include "opensips/profiling.h"
#include "prof_util.h"

#include "../cmocka_cxx.h" // last

using namespace proftest;

namespace {

int discard(const shim_prof_record *, void *) { return 0; }

double now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

__attribute__((noinline)) void session()
{
	SHIM_PROF_START(SHIM_PROF_SIP, "SIP receiver udp:127.0.0.1:5060", 1);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "udp proto reading", 1);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "receive_msg", 0);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "request_script", 0);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "request_script", 1);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "receive_msg", 0);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "reading done", 0);
	SHIM_PROF_END(SHIM_PROF_SIP, 0);
}

void hot_path_cost(void **)
{
	shim::prof_test_force_subscribed(1, 1);
	shim::prof_test_reset_thread();
	shim_prof_sink s{sizeof(shim_prof_sink), EVI_ERROR, EVI_ERROR, discard, nullptr, 0};
	shim_prof_set_sink(nullptr);
	shim_prof_set_sink(&s);
	const int batch = 1000, rounds = 200; // 8000 records per batch < ring
	double spent = 0;
	shim_prof_proc_armed = 1;
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns();
		for (int i = 0; i < batch; i++) session();
		spent += now_ns() - t0;
		shim::prof_drain((size_t)-1);
	}
	double per_record = spent / ((double)rounds * batch * 8);

	shim_prof_proc_armed = 0; // nobody enabled: START's one branch
	double t0 = now_ns();
	for (int i = 0; i < rounds * batch; i++) session();
	double off = (now_ns() - t0) / ((double)rounds * batch * 8);

	printf("# profiling hot path: %.1f ns per record (8-record session), "
	       "%.2f ns per hook when off\n", per_record, off);
	assert_true(per_record < 2000);
	shim_prof_set_sink(nullptr);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(hot_path_cost),
	};
	return cmocka_run_group_tests_name("profiling_bench", tests, nullptr, nullptr);
}
