// Unit tests of the core parameters (core_shim/cfg/globals.cc, spec §7.1).
#include "opensips/net.h"
#include "settings/globals.h"

#include "cfg_util.h"
#include "log/log.h"
#include "sip/sip_parser.h"

#include "../cmocka_cxx.h" // last

using shim::g_globals;

namespace {

int setup(void **)
{
	cfgtest::reset_host();
	return 0;
}

int parse(const std::string &text, std::string &err)
{
	return shim::cfg_parse_string(text, "g.cfg", err);
}

void numbers_and_bools(void **)
{
	std::string err;
	assert_int_equal(parse("auto_load_core_modules = no\n"
	                       "log_level = 3\nxlog_level = 0x4\n"
	                       "xlog_print_level = 01\n"
	                       "tcp_threshold = -5\n"
	                       "syslog_enabled = on\nlog_stdout = enable\n"
	                       "stderror_enabled = false\n"
	                       "log_event_enabled = 1\n"
	                       "mi_list_aliases = YES\n"
	                       "event_pkg_threshold = 1; event_shm_threshold = 010\n"
	                       "busy_poll_usec = 50\n"
	                       "udp_gso = yes\n",
	                       err),
	                 0);
	assert_false(g_globals.auto_load_core_modules);
	assert_int_equal(g_globals.log_level, 3);
	assert_int_equal(shim::log_global_level(), 3);
	assert_int_equal(g_globals.xlog_level, 4);
	assert_int_equal(shim::xlog_level, 4);
	assert_int_equal(shim::xlog_print_level, 1);
	assert_int_equal(g_globals.tcp_threshold, -5);
	assert_true(g_globals.syslog_enabled);
	assert_true(g_globals.log_stdout);
	assert_false(g_globals.stderror_enabled);
	assert_true(g_globals.log_event_enabled);
	assert_true(g_globals.mi_list_aliases);
	assert_int_equal(g_globals.event_pkg_threshold, 1);
	assert_int_equal(g_globals.event_shm_threshold, 8);
	assert_int_equal(g_globals.busy_poll_usec, 50);
	assert_true(g_globals.udp_gso);
	assert_int_equal(shim_udp_gso(), 1);
	shim::log_set_stderr(true);
	shim::log_set_global_level(2);
}

void strings_and_lists(void **)
{
	std::string err;
	assert_int_equal(parse("auto_load_core_modules = no\n"
	                       "mpath = \"/a\"\nmpath=\"/b/\"\n"
	                       "syslog_facility = LOG_LOCAL0\n"
	                       "stderror_log_format = json\n"
	                       "server_header = \"Server: my-sbc 1.0\"\n",
	                       err),
	                 0);
	assert_int_equal(g_globals.mpath.size(), 2);
	assert_string_equal(g_globals.mpath[0].c_str(), "/a");
	assert_string_equal(g_globals.mpath[1].c_str(), "/b/");
	assert_string_equal(g_globals.syslog_facility.c_str(), "LOG_LOCAL0");
	assert_string_equal(g_globals.stderror_log_format.c_str(), "json");
	assert_string_equal(g_globals.server_header.c_str(), "my-sbc 1.0");
	assert_string_equal(shim::sip_server_header().c_str(), "my-sbc 1.0");
}

void sockets(void **)
{
	std::string err;
	assert_int_equal(parse("auto_load_core_modules = no\n"
	                       "socket = udp:127.0.0.1:5060\n"
	                       "socket = tcp:10.0.0.1:5070 as 1.2.3.4:5060 "
	                       "use_workers 2 reuse_port\n"
	                       "socket = udp:[::1]:5062\n"
	                       "socket = udp:192.168.0.1\n",
	                       err),
	                 0);
	auto &s = g_globals.sockets;
	assert_int_equal(s.size(), 4);
	assert_string_equal(s[0].text.c_str(), "udp:127.0.0.1:5060");
	assert_int_equal(s[0].proto, 1);
	assert_string_equal(s[0].ip.c_str(), "127.0.0.1");
	assert_int_equal(s[0].port, 5060);
	assert_string_equal(s[1].text.c_str(), "tcp:10.0.0.1:5070");
	assert_int_equal(s[1].proto, 2);
	assert_string_equal(s[2].ip.c_str(), "::1");
	assert_string_equal(s[2].text.c_str(), "udp:[::1]:5062");
	assert_int_equal(s[3].port, 5060);
}

void workers_and_profiles(void **)
{
	std::string err;
	assert_int_equal(parse("auto_load_core_modules = no\n"
	                       "auto_scaling_profile = PROFILE_REF\n"
	                       "     scale up to 4 on 70% for 2 cycles within 3\n"
	                       "     scale down to 1 on 10% for 2 cycles\n"
	                       "udp_workers = 2 use_auto_scaling_profile PROFILE_REF\n"
	                       "tcp_workers = 3\ntimer_workers = 2\n",
	                       err),
	                 0);
	assert_int_equal(g_globals.udp_workers, 2);
	assert_string_equal(g_globals.udp_workers_profile.c_str(), "PROFILE_REF");
	assert_int_equal(g_globals.tcp_workers, 3);
	assert_true(g_globals.tcp_workers_profile.empty());
	assert_int_equal(g_globals.timer_workers, 2);
	assert_int_equal(g_globals.auto_scaling_profiles.size(), 1);
	assert_string_equal(g_globals.auto_scaling_profiles[0].c_str(),
	                    "PROFILE_REF scale up to 4 on 70% for 2 cycles within 3 "
	                    "scale down to 1 on 10% for 2 cycles");
}

void errors(void **)
{
	struct {
		const char *cfg, *err;
	} cases[] = {
	    {"log_level = 3\nbogus_param = 1\n",
	     "g.cfg:2: unknown core parameter 'bogus_param'"},
	    {"\nlisten = udp:127.0.0.1:5060\n",
	     "g.cfg:2: core parameter 'listen' was removed in OpenSIPS 4.0: use "
	     "'socket'"},
	    {"log_level = loud\n",
	     "g.cfg:1: core parameter 'log_level' expects an integer"},
	    {"syslog_enabled = maybe\n",
	     "g.cfg:1: core parameter 'syslog_enabled' expects a boolean (yes/no)"},
	    {"socket = sctp:127.0.0.1:5060\n",
	     "g.cfg:1: core parameter 'socket' socket protocol 'sctp' is not "
	     "supported (udp, tcp)"},
	    {"socket = udp:127.0.0.1:99999\n",
	     "g.cfg:1: core parameter 'socket' bad socket port '99999'"},
	    {"socket = udp:127.0.0.1:5060 bogus\n",
	     "g.cfg:1: core parameter 'socket' unknown socket option 'bogus'"},
	    {"socket = udp:127.0.0.1:5060 use_workers\n",
	     "g.cfg:1: core parameter 'socket' socket option 'use_workers' needs a "
	     "value"},
	    {"udp_workers = 2 use_auto_scaling_profile P extra\n",
	     "g.cfg:1: core parameter 'udp_workers' expects 'N "
	     "[use_auto_scaling_profile NAME]'"},
	    {"udp_workers = 2 use_profile X\n",
	     "g.cfg:1: core parameter 'udp_workers' expects 'N "
	     "[use_auto_scaling_profile NAME]'"},
	    {"event_shm_threshold = 101\n",
	     "g.cfg:1: core parameter 'event_shm_threshold' expects a percentage "
	     "(0..100)"},
	    {"stderror_log_format = xml\n",
	     "g.cfg:1: core parameter 'stderror_log_format' expects plain_text, "
	     "json or json_cee"},
	    {"log_level =\n", "g.cfg:1: core parameter 'log_level' has no value"},
	    {"busy_poll_usec = 1001\n",
	     "g.cfg:1: core parameter 'busy_poll_usec' expects microseconds (0..1000)"},
	    {"busy_poll_usec = -1\n",
	     "g.cfg:1: core parameter 'busy_poll_usec' expects microseconds (0..1000)"},
	    {"udp_gso = \"sometimes\"\n",
	     "g.cfg:1: core parameter 'udp_gso' expects a boolean (yes/no)"},
	};
	for (auto &c : cases) {
		cfgtest::reset_host();
		std::string err;
		assert_int_equal(parse(c.cfg, err), -1);
		assert_string_equal(err.c_str(), c.err);
	}
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(numbers_and_bools, setup),
	    cmocka_unit_test_setup(strings_and_lists, setup),
	    cmocka_unit_test_setup(sockets, setup),
	    cmocka_unit_test_setup(workers_and_profiles, setup),
	    cmocka_unit_test_setup(errors, setup),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
