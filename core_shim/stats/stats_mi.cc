// MI statistics:get, statistics:list, statistics:reset, statistics:reset_all
// (3.x names get_statistics, list_statistics, reset_statistics,
// reset_all_statistics), answering as the reference does
// (test/system/ref/statistics.jsonl):
//
//   get   "all", "group:" (group case-insensitive), bare names
//         (case-sensitive); every match is a "group:name": <integer>
//         member, in the order asked, repeats included; nothing found is
//         an empty object, not an error.
//   list  the same names (not "all"); values "incremental" or
//         "non-incremental"; a bare name answers with the bare name as the
//         key. No parameter: every statistic.
//   reset bare names only; counters go back to 0, gauges and computed
//         statistics are left alone; "OK" when at least one name was
//         known, else 404 "Statistics Not Found".
//
// Two extensions (docs/statistics.md): "group:name" is resolved too, where
// the reference finds nothing for it although it is the very key its
// replies use; and a string in place of the array is taken as
// blank-separated names, where the reference answers -32602.
#include <string>
#include <vector>

#include "util/host_mi.h"
#include "opensips/mi.h"
#include "stats/stats.h"

namespace shim {
namespace {

enum class ask { get, list, reset };

// Collects the statistics one requested name stands for.
void resolve(const std::string &s, ask how, std::vector<std::pair<stat_var_ *, bool>> &out)
{
	if (s.empty())
		return;
	if (s == "all") {
		if (how == ask::get)
			for (stat_var_ *v : stats_snapshot())
				out.emplace_back(v, true);
		return;
	}
	size_t colon = s.find(':');
	if (colon != std::string::npos && colon + 1 == s.size()) {
		if (how == ask::reset || colon == 0)
			return;
		for (stat_var_ *v : stats_group(s.substr(0, colon)))
			out.emplace_back(v, true);
		return;
	}
	if (colon != std::string::npos && colon > 0) {
		if (stat_var_ *v = stats_find(s, true))
			out.emplace_back(v, true);
		return;
	}
	if (stat_var_ *v = stats_find(s, false))
		out.emplace_back(v, false);
}

// The "statistics" array; nullptr (with the MI core's error recorded)
// when it is missing, of the wrong type or empty.
bool names_param(const mi_params_t *params, std::vector<std::string> &names)
{
	// A string instead of the array (what opensips-cli sends for
	// `mi statistics:get core:`, the 4.x name it does not pack): its
	// blank-separated names. The reference refuses it.
	char *str = nullptr;
	int slen = 0;
	if (try_get_mi_string_param(params, "statistics", &str, &slen) == 0 && str) {
		std::string all(str, (size_t)slen);
		size_t pos = 0;
		while ((pos = all.find_first_not_of(" \t", pos)) != std::string::npos) {
			size_t end = all.find_first_of(" \t", pos);
			names.push_back(all.substr(pos, end - pos));
			pos = end;
		}
		if (!names.empty())
			return true;
	}
	mi_item_t *arr = nullptr;
	int n = 0;
	if (get_mi_array_param(params, "statistics", &arr, &n) < 0)
		return false;
	for (int i = 0; i < n; i++) {
		char *s = nullptr;
		int len = 0;
		// a non-string member names nothing (as the reference)
		if (get_mi_arr_param_string(arr, i, &s, &len) == 0 && s)
			names.emplace_back(s, (size_t)len);
	}
	return true;
}

std::string key_of(stat_var_ *v) { return v->group + ":" + v->name; }

using hit_list = std::vector<std::pair<stat_var_ *, bool>>;

mi_response_t *reply_hits(const hit_list &hits, ask how)
{
	mi_item_t *obj;
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp)
		return nullptr;
	for (auto &[v, qualified] : hits) {
		std::string key = (how == ask::list && !qualified) ? v->name : key_of(v);
		int rc = how == ask::get
		             ? add_mi_int(obj, key.data(), (int)key.size(),
		                          (long long)get_stat_val(v))
		             : add_mi_string(obj, key.data(), (int)key.size(),
		                             stat_incremental(v) ? "incremental" : "non-incremental",
		                             stat_incremental(v) ? 11 : 15);
		if (rc < 0) {
			free_mi_response(resp);
			return nullptr;
		}
	}
	return resp;
}

mi_response_t *reply_values(const std::vector<std::string> &names, ask how)
{
	hit_list hits;
	for (const std::string &n : names)
		resolve(n, how, hits);
	return reply_hits(hits, how);
}

mi_response_t *mi_get(const mi_params_t *params, struct mi_handler *)
{
	std::vector<std::string> names;
	if (!names_param(params, names))
		return init_mi_param_error();
	return reply_values(names, ask::get);
}

mi_response_t *mi_list_all(const mi_params_t *, struct mi_handler *)
{
	hit_list hits;
	for (stat_var_ *v : stats_snapshot())
		hits.emplace_back(v, true);
	return reply_hits(hits, ask::list);
}

mi_response_t *mi_list(const mi_params_t *params, struct mi_handler *)
{
	std::vector<std::string> names;
	if (!names_param(params, names))
		return init_mi_param_error();
	return reply_values(names, ask::list);
}

mi_response_t *mi_reset(const mi_params_t *params, struct mi_handler *)
{
	std::vector<std::string> names;
	if (!names_param(params, names))
		return init_mi_param_error();
	hit_list hits;
	for (const std::string &n : names)
		resolve(n, ask::reset, hits);
	if (hits.empty())
		return init_mi_error(404, "Statistics Not Found", 20);
	for (auto &h : hits)
		reset_stat(h.first);
	return init_mi_result_string("OK", 2);
}

mi_response_t *mi_reset_all(const mi_params_t *, struct mi_handler *)
{
	for (stat_var_ *v : stats_snapshot())
		reset_stat(v);
	return init_mi_result_string("OK", 2);
}

const shim::mi::host_mi_cmd g_cmds[] = {
    {"get", "prints the values of statistics, groups (\"core:\") or all", 0, nullptr,
     {{mi_get, {"statistics", nullptr}}, {nullptr, {nullptr}}},
     {"get_statistics", nullptr}},
    {"list", "lists statistics with their kind (incremental or not)", 0, nullptr,
     {{mi_list_all, {nullptr}}, {mi_list, {"statistics", nullptr}}, {nullptr, {nullptr}}},
     {"list_statistics", nullptr}},
    {"reset", "sets counters back to 0 (gauges are left alone)", 0, nullptr,
     {{mi_reset, {"statistics", nullptr}}, {nullptr, {nullptr}}},
     {"reset_statistics", nullptr}},
    {"reset_all", "sets every counter back to 0", 0, nullptr,
     {{mi_reset_all, {nullptr}}, {nullptr, {nullptr}}},
     {"reset_all_statistics", nullptr}},
    {nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

} // namespace

int stats_mi_register() { return shim::mi::register_host_mi("statistics", g_cmds); }

} // namespace shim
