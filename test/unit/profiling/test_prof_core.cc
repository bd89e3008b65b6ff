// The PROC session state machine (spec §4.3 depth and deferral rules),
// level gating, and ring overflow (whole sessions dropped and counted).
// Runs on the test's own (unmanaged) thread, with the subscriber checks
// forced; records are read back through prof_drain and a capturing sink.
#include <time.h>

#include "opensips/host.h"
#include "opensips/profiling.h"
#include "proc/roster.h"
#include "prof_util.h"

#include "../cmocka_cxx.h" // last

using namespace proftest;

namespace {

int setup(void **)
{
	shim::prof_test_force_subscribed(1, 1);
	shim::prof_test_ring_size(0);
	shim::prof_test_reset_thread();
	shim_prof_proc_armed = 1;
	install_sink();
	drained();
	return 0;
}

// The example session of spec §4.3.
void udp_session()
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

void example_session(void **)
{
	timespec before;
	clock_gettime(CLOCK_REALTIME, &before);
	udp_session();
	auto v = drained();
	assert_string_equal(lines(v).c_str(),
	                    "start SIP receiver udp:127.0.0.1:5060 0\n"
	                    "enter udp proto reading 1\n"
	                    "enter receive_msg 2\n"
	                    "enter request_script 3\n"
	                    "exit request_script 2\n"
	                    "exit receive_msg 1\n"
	                    "exit reading done 0\n"
	                    "end SIP receiver udp:127.0.0.1:5060 0\n");
	for (auto &r : v) {
		assert_int_equal(r.event, SHIM_PROF_EV_PROC);
		assert_int_equal(r.session, shim_my_pid());
		assert_true(r.sec >= before.tv_sec && r.sec <= before.tv_sec + 5);
		assert_true(r.usec >= 0 && r.usec < 1000000);
	}
	// file/line: the hook site (C function, line); status on exit/end
	assert_string_equal(v[2].file, "udp_session");
	assert_true(v[2].line > 0);
	assert_int_equal(v[4].status, 1);
	assert_int_equal(v[5].status, 0);
	// a held record keeps the time it was made: never after what follows
	assert_true(v[0].sec < v[2].sec || (v[0].sec == v[2].sec && v[0].usec <= v[2].usec));
	// no session open any more: hooks are inert
	assert_int_equal(shim_prof_session_level, 0);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "stray", 0);
	assert_int_equal(drained().size(), 0);
}

void empty_wakeup_emits_nothing(void **)
{
	SHIM_PROF_START(SHIM_PROF_SIP, "SIP receiver", 1);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "udp proto reading", 1);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "reading done", 0);
	SHIM_PROF_END(SHIM_PROF_SIP, 0);
	assert_int_equal(drained().size(), 0);
	// and the next session is unaffected
	udp_session();
	assert_int_equal(drained().size(), 8);
}

void flushed_depth_is_stack_index(void **)
{
	SHIM_PROF_START(SHIM_PROF_SIP, "S", 0);  // emitted at 0
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "A", 0);  // 1
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "B", 1);  // held at index 0 (real depth 2)
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "C", 1);  // held at index 1 (real depth 3)
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "D", 0);  // flushes B (0), C (1); then 4
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "D", 0);   // 3
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "C", 0);   // 2
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "B", 0);   // 1
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "A", 0);   // 0
	SHIM_PROF_END(SHIM_PROF_SIP, 0);
	assert_string_equal(lines(drained()).c_str(),
	                    "start S 0\nenter A 1\nenter B 0\nenter C 1\nenter D 4\n"
	                    "exit D 3\nexit C 2\nexit B 1\nexit A 0\nend S 0\n");
}

void exit_while_held_drops_one(void **)
{
	SHIM_PROF_START(SHIM_PROF_SIP, "S", 0);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "H1", 1);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "H2", 1);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "x2", 0);  // drops H2, emits nothing
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "R", 0);  // flushes H1 alone (index 0)
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "R", 0);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "x1", 0);
	SHIM_PROF_END(SHIM_PROF_SIP, 7);
	auto v = drained();
	assert_string_equal(lines(v).c_str(),
	                    "start S 0\nenter H1 0\nenter R 2\nexit R 1\nexit x1 0\nend S 0\n");
	assert_int_equal(v.back().status, 7);
}

void start_and_end_rules(void **)
{
	// start emits depth 0; end emits the current depth (unbalanced here)
	SHIM_PROF_START(SHIM_PROF_SIP, "S", 0);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "A", 0);
	SHIM_PROF_END(SHIM_PROF_SIP, 0);
	assert_string_equal(lines(drained()).c_str(), "start S 0\nenter A 1\nend S 1\n");
	// a new start without an end closes the old session first
	SHIM_PROF_START(SHIM_PROF_SIP, "S1", 0);
	SHIM_PROF_START(SHIM_PROF_SIP, "S2", 0);
	SHIM_PROF_END(SHIM_PROF_SIP, 0);
	assert_string_equal(lines(drained()).c_str(), "start S1 0\nstart S2 0\nend S2 0\n");
}

void gated_by_subscribers(void **)
{
	shim::prof_test_force_subscribed(0, 1);
	udp_session();
	assert_int_equal(drained().size(), 0);
	shim::prof_test_force_subscribed(1, 1);
	// nobody armed: START's inline test skips everything
	shim_prof_proc_armed = 0;
	udp_session();
	assert_int_equal(drained().size(), 0);
	shim_prof_proc_armed = 1;
}

void gated_by_level(void **)
{
	// a roster thread at level SIP: FULL hooks (timer_job) stay silent
	shim::roster_reset();
	int id = shim::roster_add("timer", shim::PROC_TYPE_TIMER);
	shim::roster_bind_self(id);
	shim::prof_test_reset_thread();
	assert_int_equal(shim_prof_set_level(id, 1), 1);
	assert_int_equal(shim_prof_proc_armed, 1);
	SHIM_PROF_START(SHIM_PROF_SIP, nullptr, 1);
	SHIM_PROF_ENTER(SHIM_PROF_FULL, "timer_job", 1);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "my timer", 0);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "my timer", 0);
	SHIM_PROF_EXIT(SHIM_PROF_FULL, "timer_job", 0);
	SHIM_PROF_END(SHIM_PROF_SIP, 0);
	auto v = drained();
	assert_string_equal(lines(v).c_str(),
	                    "start timer 0\nenter my timer 1\nexit my timer 0\nend timer 0\n");
	assert_int_equal(v[0].type, shim::PROC_TYPE_TIMER);
	// FULL: timer_job shows, held until the handler's enter
	shim_prof_set_level(id, 9); // clamped to 3
	assert_int_equal(shim::roster_get(id)->profiling_level.load(), 3);
	SHIM_PROF_START(SHIM_PROF_SIP, nullptr, 1);
	SHIM_PROF_ENTER(SHIM_PROF_FULL, "timer_job", 1);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "my timer", 0);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "my timer", 0);
	SHIM_PROF_EXIT(SHIM_PROF_FULL, "timer_job", 0);
	SHIM_PROF_END(SHIM_PROF_SIP, 0);
	assert_string_equal(lines(drained()).c_str(),
	                    "start timer 0\nenter timer_job 1\nenter my timer 2\n"
	                    "exit my timer 1\nexit timer_job 0\nend timer 0\n");
	// level 0: nothing, and START is disarmed again
	shim_prof_set_level(-1, -4);
	assert_int_equal(shim_prof_proc_armed, 0);
	shim_prof_proc_armed = 1; // the inline test passes; the level still gates
	udp_session();
	assert_int_equal(drained().size(), 0);
	shim::roster_reset();
	shim::prof_test_reset_thread();
}

unsigned long long my_dropped()
{
	unsigned long long d = 0;
	shim_prof_walk_threads(
	    [](int, int pid, const char *, unsigned long long, unsigned long long dr,
	       void *p) {
		    if (pid == shim_my_pid()) *(unsigned long long *)p += dr;
	    },
	    &d);
	return d;
}

void overflow_drops_whole_sessions(void **)
{
	shim::prof_test_ring_size(16);
	shim::prof_test_reset_thread(); // next record makes a 16-record ring
	unsigned long long d0 = my_dropped();
	auto session6 = [](const char *n) {
		SHIM_PROF_START(SHIM_PROF_SIP, n, 0);
		SHIM_PROF_ENTER(SHIM_PROF_SIP, "a", 0);
		SHIM_PROF_ENTER(SHIM_PROF_SIP, "b", 0);
		SHIM_PROF_EXIT(SHIM_PROF_SIP, "b", 0);
		SHIM_PROF_EXIT(SHIM_PROF_SIP, "a", 0);
		SHIM_PROF_END(SHIM_PROF_SIP, 0);
	};
	session6("s1");
	session6("s2");           // 12 records
	session6("s3");           // the 17th record fails: s3 goes entirely
	session6("s4");           // no room at all: dropped too
	assert_int_equal(my_dropped() - d0, 2);
	// nothing of s3 or s4 reached the consumer
	auto v = drained();
	assert_int_equal(v.size(), 12);
	assert_string_equal(v[0].name, "s1");
	assert_string_equal(v[6].name, "s2");
	assert_string_equal(v[11].name, "s2");
	// drained: room again
	session6("s5");
	v = drained();
	assert_int_equal(v.size(), 6);
	assert_string_equal(v[0].name, "s5");

	// a SCRIPT session nested in a PROC session goes with it
	session6("f1");
	session6("f2"); // 12 of 16 used
	SHIM_PROF_START(SHIM_PROF_SIP, "outer", 0);
	shim::prof_script_record(SHIM_PROF_VERB_START, nullptr, 1, 1, nullptr, 0, 0, 9);
	shim::prof_script_record(SHIM_PROF_VERB_ENTER, nullptr, 1, 1, "f", 1, 0, 9);
	shim::prof_script_record(SHIM_PROF_VERB_EXIT, nullptr, 1, 1, "f", 1, 1, 9);
	shim::prof_script_record(SHIM_PROF_VERB_END, nullptr, 1, 1, nullptr, 0, 1, 9);
	SHIM_PROF_END(SHIM_PROF_SIP, 0); // the 17th: both sessions dropped
	assert_int_equal(my_dropped() - d0, 4);
	assert_int_equal(drained().size(), 12);
	shim::prof_test_ring_size(0);
	shim::prof_test_reset_thread();
}

void records_stay_invisible_until_session_end(void **)
{
	SHIM_PROF_START(SHIM_PROF_SIP, "S", 0);
	SHIM_PROF_ENTER(SHIM_PROF_SIP, "A", 0);
	assert_int_equal(drained().size(), 0);
	SHIM_PROF_EXIT(SHIM_PROF_SIP, "A", 0);
	SHIM_PROF_END(SHIM_PROF_SIP, 0);
	assert_int_equal(drained().size(), 4);
}

void intern_and_mi_names(void **)
{
	const char *a = shim_prof_intern("MI_FIFO which", 13);
	std::string copy = "MI_FIFO which";
	assert_ptr_equal(a, shim_prof_intern(copy.data(), (int)copy.size()));
	const char req[] = " {\"jsonrpc\":\"2.0\",\"Method\" : \"core:ps\",\"id\":1}";
	assert_string_equal(shim_prof_mi_name("MI_DATAGRAM", req, (int)sizeof req - 1),
	                    "MI_DATAGRAM core:ps");
	assert_null(shim_prof_mi_name("MI_FIFO", "[{\"method\":\"x\"}]", 16));
	assert_null(shim_prof_mi_name("MI_FIFO", "{\"id\":1}", 8));
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(example_session, setup),
	    cmocka_unit_test_setup(empty_wakeup_emits_nothing, setup),
	    cmocka_unit_test_setup(flushed_depth_is_stack_index, setup),
	    cmocka_unit_test_setup(exit_while_held_drops_one, setup),
	    cmocka_unit_test_setup(start_and_end_rules, setup),
	    cmocka_unit_test_setup(gated_by_subscribers, setup),
	    cmocka_unit_test_setup(gated_by_level, setup),
	    cmocka_unit_test_setup(overflow_drops_whole_sessions, setup),
	    cmocka_unit_test_setup(records_stay_invisible_until_session_end, setup),
	    cmocka_unit_test_setup(intern_and_mi_names, setup),
	};
	return cmocka_run_group_tests_name("profiling_core", tests, nullptr, nullptr);
}
