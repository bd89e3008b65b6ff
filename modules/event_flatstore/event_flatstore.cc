// event_flatstore: the `flatstore:/path/file` EVI transport (spec §2.6):
// one delimited text line per event, appended with a single writev.
// Module table, modparams, the rotation timer and MI `event_flatstore:rotate`.
#include <cstring>
#include <string>

#include "opensips/evi.h"
#include "opensips/host.h"
#include "opensips/mi.h"
#include "opensips/sr_module.h"

#include "flatstore.h"

namespace {

void on_timer(unsigned int, void *)
{
	evflat::period_check(time(nullptr));
}

int mod_init(void)
{
	if (evflat::init_config() < 0)
		return -1;
	if (register_event_mod(&evflat::flatstore_export) < 0) {
		LM_ERR("cannot register the flatstore event transport\n");
		return -1;
	}
	str name = str_init("E_FLATSTORE_ROTATION");
	evflat::g_rotation_ev = evi_publish_event(name);
	if (evflat::g_rotation_ev == EVI_ERROR) {
		LM_ERR("cannot publish E_FLATSTORE_ROTATION\n");
		return -1;
	}
	if (evflat::rotate_period > 0 &&
	    register_timer("event_flatstore rotation", on_timer, nullptr, 1) < 0) {
		LM_ERR("cannot register the rotation timer\n");
		return -1;
	}
	return 0;
}

void mod_destroy(void)
{
	evflat::close_all();
}

mi_response_t *mi_rotate(const mi_params_t *params, struct mi_handler *)
{
	char *path;
	int len;
	if (get_mi_string_param(params, "path_to_file", &path, &len) < 0)
		return init_mi_param_error();
	if (evflat::rotate_path(std::string(path, (size_t)len)) < 0)
		return init_mi_error(400, "File not found", 14);
	return init_mi_result_ok();
}

const mi_export_t mi_cmds[] = {
	{"rotate", "reopens (rotates) a subscribed flatstore file", 0, nullptr,
	 {{mi_rotate, {"path_to_file", nullptr}}, {nullptr, {nullptr}}},
	 {"evi_flat_rotate", nullptr}},
	{nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

const param_export_t params[] = {
	{"max_open_sockets", INT_PARAM, &evflat::max_open_sockets},
	{"delimiter", STR_PARAM, &evflat::delimiter},
	{"escape_delimiter", STR_PARAM, &evflat::escape_delimiter},
	{"file_permissions", STR_PARAM, &evflat::file_permissions},
	{"suppress_event_name", INT_PARAM, &evflat::suppress_event_name},
	{"rotate_period", INT_PARAM, &evflat::rotate_period},
	{"rotate_count", INT_PARAM | STR_PARAM | USE_FUNC_PARAM, (void *)evflat::set_rotate_count},
	{"rotate_size", INT_PARAM | STR_PARAM | USE_FUNC_PARAM, (void *)evflat::set_rotate_size},
	{"suffix", STR_PARAM, &evflat::suffix},
	{nullptr, 0, nullptr},
};

} // namespace

extern "C" {

struct module_exports exports = {
	"event_flatstore", /* module name */
	MOD_TYPE_DEFAULT,  /* class of this module */
	MODULE_VERSION,    /* version and ABI */
	DEFAULT_DLFLAGS,   /* dlopen flags */
	nullptr,           /* load function */
	nullptr,           /* dependencies */
	nullptr,           /* script functions */
	nullptr,           /* async script functions */
	params,            /* modparams */
	nullptr,           /* statistics */
	mi_cmds,           /* MI: event_flatstore:rotate */
	nullptr,           /* pseudo-variables */
	nullptr,           /* transformations */
	nullptr,           /* extra threads: none, writes happen on raise */
	nullptr,           /* pre-init */
	mod_init,          /* module init */
	nullptr,           /* reply handler */
	mod_destroy,       /* destroy */
	nullptr,           /* per-thread init */
	nullptr,           /* reload ack */
};

} // extern "C"
