// The module ABI's layout, held against a checked-in table
// (test/unit/abi/layout.txt): every struct the host and a module share, its
// size and the offset of each member listed here. A layout that changes
// while SHIM_ABI_VERSION stays what the table says fails this test: bump
// the version (include/opensips/version.h), then regenerate the table with
//     build/unit/abi/test_layout --print > test/unit/abi/layout.txt
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fstream>
#include <sstream>
#include <string>

#include "opensips/core_hooks.h"
#include "opensips/evi.h"
#include "opensips/evi_transport.h"
#include "opensips/httpd.h"
#include "opensips/mi.h"
#include "opensips/net.h"
#include "opensips/profiling.h"
#include "opensips/sr_module.h"
#include "opensips/statistics.h"
#include "opensips/status_report.h"
#include "opensips/version.h"

#include "../cmocka_cxx.h" // last

// Relative to the checkout: `make test` runs the unit tests from there.
#define SHIM_LAYOUT_TABLE "test/unit/abi/layout.txt"

namespace {

std::string g_now;

#define S(T) g_now += std::string(#T) + " size " + std::to_string(sizeof(T)) + "\n"
#define F(T, m) g_now += std::string(#T) + " " #m " " + std::to_string(offsetof(T, m)) + "\n"

void layout()
{
	g_now = "abi " + std::to_string(SHIM_ABI_VERSION) + "\n";
	S(str);
	S(struct module_exports);
	F(struct module_exports, name);
	F(struct module_exports, ver_info);
	F(struct module_exports, cmds);
	F(struct module_exports, params);
	F(struct module_exports, stats);
	F(struct module_exports, mi_cmds);
	F(struct module_exports, procs);
	F(struct module_exports, init_f);
	F(struct module_exports, destroy_f);
	S(cmd_export_t);
	S(param_export_t);
	S(proc_export_t);
	S(mi_export_t);
	S(stat_export_t);
	S(evi_param_t);
	S(evi_params_t);
	S(evi_reply_sock);
	F(evi_reply_sock, flags);
	F(evi_reply_sock, expire);
	F(evi_reply_sock, subscription_time);
	F(evi_reply_sock, priv);
	S(evi_event);
	F(evi_event, name);
	F(evi_event, params);
	S(evi_ticket);
	F(evi_ticket, size);
	F(evi_ticket, settle);
	S(evi_delivery);
	F(evi_delivery, size);
	F(evi_delivery, sock);
	F(evi_delivery, count);
	F(evi_delivery, events);
	F(evi_delivery, outcomes);
	F(evi_delivery, ticket);
	F(evi_delivery, host);
	S(evi_export_t);
	F(evi_export_t, size);
	F(evi_export_t, proto);
	F(evi_export_t, raise);
	F(evi_export_t, parse);
	F(evi_export_t, match);
	F(evi_export_t, free);
	F(evi_export_t, print);
	F(evi_export_t, flags);
	F(evi_export_t, members);
	S(evi_member_stat);
	F(evi_member_stat, socket);
	F(evi_member_stat, skipped);
	S(struct sr_api);
	F(struct sr_api, size);
	F(struct sr_api, register_group);
	F(struct sr_api, walk);
	S(struct core_event_hooks);
	F(struct core_event_hooks, size);
	F(struct core_event_hooks, threshold);
	F(struct core_event_hooks, log);
	S(struct shim_prof_sink);
	F(struct shim_prof_sink, size);
	F(struct shim_prof_sink, deliver);
	F(struct shim_prof_sink, max_rate);
	S(struct shim_prof_record);
	S(struct httpd_api);
	F(struct httpd_api, version);
	F(struct httpd_api, register_root);
	F(struct httpd_api, add_header);
	S(struct httpd_request);
	F(struct httpd_request, body_len);
	F(struct httpd_request, header);
	S(struct httpd_reply);
	S(struct stat_info);
	F(struct stat_info, size);
	F(struct stat_info, group);
	F(struct stat_info, incremental);
	F(struct stat_info, label_values);
	F(struct stat_info, value);
	S(struct shim_sockspec);
	F(struct shim_sockspec, size);
	F(struct shim_sockspec, proto);
	F(struct shim_sockspec, host);
	F(struct shim_sockspec, port);
	F(struct shim_sockspec, is_numeric);
	F(struct shim_sockspec, path);
	F(struct shim_sockspec, tail_off);
	F(struct shim_sockspec, tail_len);
}

std::string read_table()
{
	std::ifstream f(SHIM_LAYOUT_TABLE);
	std::stringstream ss;
	ss << f.rdbuf();
	return ss.str();
}

void test_layout_matches_version(void **)
{
	layout();
	std::string table = read_table();
	assert_false(table.empty());
	int table_abi = atoi(table.c_str() + 4);
	if (table == g_now)
		return;
	if (table_abi == SHIM_ABI_VERSION) {
		fprintf(stderr,
		        "the module ABI's layout changed while SHIM_ABI_VERSION is still %d:\n"
		        "bump it (include/opensips/version.h), then regenerate %s\n"
		        "--- table\n%s--- now\n%s",
		        SHIM_ABI_VERSION, SHIM_LAYOUT_TABLE, table.c_str(), g_now.c_str());
		fail();
	}
	fprintf(stderr, "%s is for ABI %d, the headers are ABI %d: regenerate it\n",
	        SHIM_LAYOUT_TABLE, table_abi, SHIM_ABI_VERSION);
	fail();
}

} // namespace

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--print") == 0) {
		layout();
		fputs(g_now.c_str(), stdout);
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_matches_version),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
