// MI commands of status_report (spec §1.7): get, status, reports,
// identifiers. Replies are built from snapshots, so no identifier lock is
// held while MI items are allocated.
#include "sr_mi.h"

#include <string.h>
#include <time.h>

#include <new>

#include "opensips/dprint.h"
#include "sr_registry.h"

namespace {

using sr::group;
using sr::id_snapshot;

#define SR_ERR(_code, _txt) init_mi_error((_code), _txt, (int)sizeof(_txt) - 1)
#define KEY(_k) _k, (int)sizeof(_k) - 1

mi_response_t *group_not_found()
{
	return SR_ERR(404, "Group not found");
}

// Fetches the mandatory `group` param and resolves it. On failure *err holds
// the reply to return.
group *param_group(const mi_params_t *params, mi_response_t **err)
{
	char *s;
	int len;
	if (get_mi_string_param(params, "group", &s, &len) < 0) {
		*err = init_mi_param_error();
		return nullptr;
	}
	group *g = sr::find_group(s, len);
	if (!g)
		*err = group_not_found();
	return g;
}

// {"Name":..,"Readiness":..,"Status":..[,"Details":..]}
int add_identifier_fields(mi_item_t *obj, const id_snapshot &s)
{
	if (add_mi_string(obj, KEY("Name"), s.name.data(), (int)s.name.size()) <
	        0 ||
	    add_mi_bool(obj, KEY("Readiness"), s.status >= 0) < 0 ||
	    add_mi_int(obj, KEY("Status"), s.status) < 0)
		return -1;
	if (s.has_details &&
	    add_mi_string(obj, KEY("Details"), s.details.data(),
	                  (int)s.details.size()) < 0)
		return -1;
	return 0;
}

int add_identifier_objects(mi_item_t *arr, group *g)
{
	for (const id_snapshot &s : sr::snapshot_all(g, false)) {
		mi_item_t *o = add_mi_object(arr, nullptr, 0);
		if (!o || add_identifier_fields(o, s) < 0)
			return -1;
	}
	return 0;
}

// [{"Timestamp":..,"Date":..,"Log":..}, ...], oldest first
int add_reports(mi_item_t *arr, const id_snapshot &s)
{
	for (const sr::report &r : s.reports) {
		mi_item_t *o = add_mi_object(arr, nullptr, 0);
		if (!o)
			return -1;
		char date[64];
		time_t ts = r.ts;
		if (!ctime_r(&ts, date))
			date[0] = '\0';
		int dlen = (int)strlen(date);
		if (dlen > 0 && date[dlen - 1] == '\n')
			date[--dlen] = '\0';
		if (add_mi_int(o, KEY("Timestamp"), (long long)r.ts) < 0 ||
		    add_mi_string(o, KEY("Date"), date, dlen) < 0 ||
		    add_mi_string(o, KEY("Log"), r.log.data(), (int)r.log.size()) <
		        0)
			return -1;
	}
	return 0;
}

// [{"Name":<id>,"Reports":[...]}, ...]
int add_group_reports(mi_item_t *arr, group *g)
{
	for (const id_snapshot &s : sr::snapshot_all(g, true)) {
		mi_item_t *o = add_mi_object(arr, nullptr, 0);
		if (!o ||
		    add_mi_string(o, KEY("Name"), s.name.data(), (int)s.name.size()) <
		        0)
			return -1;
		mi_item_t *reps = add_mi_array(o, KEY("Reports"));
		if (!reps || add_reports(reps, s) < 0)
			return -1;
	}
	return 0;
}

// {"Group":<name>,"Identifiers":[names]}
int add_group_identifiers(mi_item_t *obj, group *g)
{
	if (add_mi_string(obj, KEY("Group"), g->name.data(),
	                  (int)g->name.size()) < 0)
		return -1;
	mi_item_t *ids = add_mi_array(obj, KEY("Identifiers"));
	if (!ids)
		return -1;
	for (const std::string &n : sr::identifier_names(g))
		if (add_mi_string(ids, nullptr, 0, n.data(), (int)n.size()) < 0)
			return -1;
	return 0;
}

// Returns resp, or frees it and returns NULL when building failed.
mi_response_t *done(mi_response_t *resp, int rc)
{
	if (rc < 0) {
		LM_ERR("failed to build the MI reply\n");
		free_mi_response(resp);
		return nullptr;
	}
	return resp;
}

// No C++ exception may reach the MI core.
template <typename F> mi_response_t *guarded(F &&f)
{
	try {
		return f();
	} catch (const std::bad_alloc &) {
		LM_ERR("out of memory building a SR MI reply\n");
	} catch (...) {
		LM_ERR("unexpected error building a SR MI reply\n");
	}
	return nullptr;
}

// ---- get ----

mi_response_t *get_status(const mi_params_t *params, const char *id,
                          int id_len)
{
	mi_response_t *err = nullptr;
	group *g = param_group(params, &err);
	if (!g)
		return err;
	mi_item_t *obj;
	if (sr::is_all(id, id_len)) {
		int st = sr::get_status(g, id, id_len);
		mi_response_t *resp = init_mi_result_object(&obj);
		if (!resp)
			return nullptr;
		int rc = (add_mi_bool(obj, KEY("Readiness"), st >= 0) < 0 ||
		          add_mi_int(obj, KEY("Status"), st) < 0 ||
		          add_mi_string(obj, KEY("Details"), KEY("aggregated")) < 0)
		             ? -1
		             : 0;
		return done(resp, rc);
	}
	id_snapshot s;
	if (!sr::snapshot(g, id, id_len, false, s))
		return SR_ERR(404, "Identity not found");
	mi_response_t *resp = init_mi_result_object(&obj);
	if (!resp)
		return nullptr;
	int rc = (add_mi_bool(obj, KEY("Readiness"), s.status >= 0) < 0 ||
	          add_mi_int(obj, KEY("Status"), s.status) < 0 ||
	          (s.has_details &&
	           add_mi_string(obj, KEY("Details"), s.details.data(),
	                         (int)s.details.size()) < 0))
	             ? -1
	             : 0;
	return done(resp, rc);
}

} // namespace

extern "C" {

mi_response_t *sr_mi_get(const mi_params_t *params, struct mi_handler *)
{
	return guarded([&] { return get_status(params, nullptr, -1); });
}

mi_response_t *sr_mi_get_id(const mi_params_t *params, struct mi_handler *)
{
	return guarded([&]() -> mi_response_t * {
		char *id;
		int id_len;
		if (get_mi_string_param(params, "identifier", &id, &id_len) < 0)
			return init_mi_param_error();
		return get_status(params, id, id_len);
	});
}

// ---- status and reports: the same walk, different per-group content ----

using group_filler = int (*)(mi_item_t *arr, group *g);

// [{"Name":<group>,"Identifiers":[fill(g)...]}...], newest group first.
mi_response_t *all_groups(group_filler fill)
{
	return guarded([&]() -> mi_response_t * {
		mi_item_t *arr;
		mi_response_t *resp = init_mi_result_array(&arr);
		if (!resp)
			return nullptr;
		int rc = 0;
		for (group *g : sr::groups()) {
			mi_item_t *o = add_mi_object(arr, nullptr, 0);
			mi_item_t *ids;
			if (!o ||
			    add_mi_string(o, KEY("Name"), g->name.data(),
			                  (int)g->name.size()) < 0 ||
			    !(ids = add_mi_array(o, KEY("Identifiers"))) ||
			    fill(ids, g) < 0) {
				rc = -1;
				break;
			}
		}
		return done(resp, rc);
	});
}

// [fill(g)...] for the group named by the `group` param.
mi_response_t *one_group(const mi_params_t *params, group_filler fill)
{
	return guarded([&]() -> mi_response_t * {
		mi_response_t *err = nullptr;
		group *g = param_group(params, &err);
		if (!g)
			return err;
		mi_item_t *arr;
		mi_response_t *resp = init_mi_result_array(&arr);
		if (!resp)
			return nullptr;
		return done(resp, fill(arr, g));
	});
}

mi_response_t *sr_mi_status(const mi_params_t *, struct mi_handler *)
{
	return all_groups(add_identifier_objects);
}

mi_response_t *sr_mi_status_group(const mi_params_t *params,
                                  struct mi_handler *)
{
	return one_group(params, add_identifier_objects);
}

mi_response_t *sr_mi_reports(const mi_params_t *, struct mi_handler *)
{
	return all_groups(add_group_reports);
}

mi_response_t *sr_mi_reports_group(const mi_params_t *params,
                                   struct mi_handler *)
{
	return one_group(params, add_group_reports);
}

mi_response_t *sr_mi_reports_id(const mi_params_t *params,
                                struct mi_handler *)
{
	return guarded([&]() -> mi_response_t * {
		mi_response_t *err = nullptr;
		group *g = param_group(params, &err);
		if (!g)
			return err;
		char *id;
		int id_len;
		if (get_mi_string_param(params, "identifier", &id, &id_len) < 0)
			return init_mi_param_error();
		id_snapshot s;
		if (!sr::snapshot(g, id, id_len, true, s))
			return SR_ERR(404, "Identifier not found");
		mi_item_t *arr;
		mi_response_t *resp = init_mi_result_array(&arr);
		if (!resp)
			return nullptr;
		return done(resp, add_reports(arr, s));
	});
}

// ---- identifiers ----

mi_response_t *sr_mi_identifiers(const mi_params_t *, struct mi_handler *)
{
	return guarded([&]() -> mi_response_t * {
		mi_item_t *arr;
		mi_response_t *resp = init_mi_result_array(&arr);
		if (!resp)
			return nullptr;
		int rc = 0;
		for (group *g : sr::groups()) {
			mi_item_t *o = add_mi_object(arr, nullptr, 0);
			if (!o || add_group_identifiers(o, g) < 0) {
				rc = -1;
				break;
			}
		}
		return done(resp, rc);
	});
}

mi_response_t *sr_mi_identifiers_group(const mi_params_t *params,
                                       struct mi_handler *)
{
	return guarded([&]() -> mi_response_t * {
		mi_response_t *err = nullptr;
		group *g = param_group(params, &err);
		if (!g)
			return err;
		mi_item_t *obj;
		mi_response_t *resp = init_mi_result_object(&obj);
		if (!resp)
			return nullptr;
		return done(resp, add_group_identifiers(obj, g));
	});
}

} // extern "C"
