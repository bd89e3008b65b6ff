// status_report: the Status/Report framework as a module (decisions §2).
//
// Owns the SR registry and its C API (bound by other modules with
// load_sr_api()), the `core` group that follows the host lifecycle, the
// script functions sr_check_status / sr_set_status / sr_add_report, the
// modparam script_sr_group and the status_report:* MI commands.
#include "opensips/host.h"
#include "opensips/sr_module.h"
#include "opensips/status_report.h"

#include "sr_mi.h"
#include "sr_registry.h"
#include "sr_script.h"

namespace {

void on_lifecycle(int new_state, void *)
{
	sr::core_set_state(new_state);
}

int mod_load()
{
	// The core group is registered first, so it is listed last.
	if (sr::core_init() < 0) {
		LM_ERR("failed to register the core SR group\n");
		return -1;
	}
	if (shim_register_api(SR_API_NAME, &sr::api_table) < 0) {
		LM_ERR("failed to publish the SR API\n");
		return -1;
	}
	if (shim_add_lifecycle_cb(on_lifecycle, nullptr) < 0) {
		LM_ERR("failed to follow the host lifecycle\n");
		return -1;
	}
	// The host enters INITIALIZING before it loads us: catch up.
	int st = shim_get_state();
	if (st == SHIM_STATE_INITIALIZING || st == SHIM_STATE_RUNNING)
		sr::core_set_state(SHIM_STATE_INITIALIZING);
	if (st == SHIM_STATE_RUNNING)
		sr::core_set_state(SHIM_STATE_RUNNING);
	return 0;
}

// ---- script functions ----
const cmd_export_t cmds[] = {
	{
		"sr_check_status",                          /* name */
		w_sr_check_status,                          /* function */
		{
			{CMD_PARAM_STR, fixup_sr_group, nullptr}, /* group */
			{CMD_PARAM_STR | CMD_PARAM_OPT, nullptr, nullptr}, /* identifier */
			{0, nullptr, nullptr},
		},
		ALL_ROUTES,                                 /* route types */
	},
	{
		"sr_set_status",                            /* name */
		w_sr_set_status,                            /* function */
		{
			{CMD_PARAM_STR, fixup_sr_group, nullptr}, /* group */
			{CMD_PARAM_INT, nullptr, nullptr},        /* status */
			{CMD_PARAM_STR | CMD_PARAM_OPT, nullptr, nullptr}, /* details */
			{0, nullptr, nullptr},
		},
		ALL_ROUTES,                                 /* route types */
	},
	{
		"sr_add_report",                            /* name */
		w_sr_add_report,                            /* function */
		{
			{CMD_PARAM_STR, fixup_sr_group, nullptr}, /* group */
			{CMD_PARAM_STR, nullptr, nullptr},        /* report */
			{0, nullptr, nullptr},
		},
		ALL_ROUTES,                                 /* route types */
	},
	{nullptr, nullptr, {{0, nullptr, nullptr}}, 0},
};

// ---- module parameters ----
const param_export_t params[] = {
	{"script_sr_group", USE_FUNC_PARAM | STR_PARAM,
	 (void *)sr_script_group_param},
	{nullptr, 0, nullptr},
};

// ---- MI commands (registered as status_report:<name>) ----
const mi_export_t mi_cmds[] = {
	{
		"get",                                            /* name */
		"status of an identifier of a SR group (default main; "
		"\"all\" aggregates)",                            /* help */
		0,                                                /* flags */
		nullptr,                                          /* init_f */
		{
			{sr_mi_get, {"group", nullptr}},
			{sr_mi_get_id, {"group", "identifier", nullptr}},
			{nullptr, {nullptr}},
		},                                                /* recipes */
		{"sr_get_status", nullptr},                       /* aliases */
	},
	{
		"status",                                         /* name */
		"status of every identifier of one or all SR groups", /* help */
		0,                                                /* flags */
		nullptr,                                          /* init_f */
		{
			{sr_mi_status, {nullptr}},
			{sr_mi_status_group, {"group", nullptr}},
			{nullptr, {nullptr}},
		},                                                /* recipes */
		{"sr_list_status", nullptr},                      /* aliases */
	},
	{
		"reports",                                        /* name */
		"reports of one identifier, one SR group or all groups", /* help */
		0,                                                /* flags */
		nullptr,                                          /* init_f */
		{
			{sr_mi_reports, {nullptr}},
			{sr_mi_reports_group, {"group", nullptr}},
			{sr_mi_reports_id, {"group", "identifier", nullptr}},
			{nullptr, {nullptr}},
		},                                                /* recipes */
		{"sr_list_reports", nullptr},                     /* aliases */
	},
	{
		"identifiers",                                    /* name */
		"identifier names of one or all SR groups",       /* help */
		0,                                                /* flags */
		nullptr,                                          /* init_f */
		{
			{sr_mi_identifiers, {nullptr}},
			{sr_mi_identifiers_group, {"group", nullptr}},
			{nullptr, {nullptr}},
		},                                                /* recipes */
		{"sr_list_identifiers", nullptr},                 /* aliases */
	},
	{nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

// Runs after the host has stopped every thread: nothing reads the
// registry any more, so it can go (clean exit for leak checkers).
void mod_destroy(void) { sr::release_at_exit(); }

} // namespace

extern "C" {

__attribute__((visibility("default"))) struct module_exports exports = {
	"status_report",  /* name */
	MOD_TYPE_DEFAULT, /* type */
	MODULE_VERSION,   /* ver_info */
	DEFAULT_DLFLAGS,  /* dlflags */
	mod_load,         /* load_f: core group, API, lifecycle listener */
	nullptr,          /* deps */
	cmds,             /* cmds */
	nullptr,          /* acmds */
	params,           /* params */
	nullptr,          /* stats */
	mi_cmds,          /* mi_cmds */
	nullptr,          /* items */
	nullptr,          /* trans */
	nullptr,          /* procs */
	nullptr,          /* preinit_f */
	nullptr,          /* init_f */
	nullptr,          /* response_f */
	mod_destroy,      /* destroy_f: frees the registry, threads are gone */
	nullptr,          /* init_child_f */
	nullptr,          /* reload_ack_f */
};

} // extern "C"
