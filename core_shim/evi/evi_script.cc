// Core script functions of the EVI (spec §2.3): raise_event and
// subscribe_event. Allowed in every route type (decisions.md §17). Their
// literal event names are published by cfg_fixup (decisions.md §3).
#include <deque>

#include "api/script-t.h"
#include "evi/evi_internal.h"
#include "opensips/dprint.h"

namespace shim::evi {
namespace {

int pv_values(pv_spec_t *spec, std::vector<script_param> &out)
{
	return g_script_runner.pv_values ? g_script_runner.pv_values(spec, out) : 0;
}

// raise_event(event[, attrs_avp[, vals_avp]])
int w_raise_event(struct sip_msg *, void *p_ev, void *p_attrs, void *p_vals,
                  void *, void *, void *, void *, void *)
{
	str *ev = static_cast<str *>(p_ev);
	event_id_t id = evi_get_id(ev);
	if (id == EVI_ERROR) {
		LM_ERR("event '%.*s' is not published", ev ? ev->len : 0,
		       ev && ev->s ? ev->s : "");
		return -1;
	}
	if (evi_probe_event(id) <= 0)
		return 1; // nobody listens: nothing to build
	evi_params_p list = nullptr;
	std::vector<script_param> vals, attrs;
	// AVPs are LIFO: values come newest first, so parameters come out in
	// reverse insertion order, as OpenSIPS does
	if (p_vals) {
		pv_values(static_cast<pv_spec_t *>(p_vals), vals);
		if (p_attrs) pv_values(static_cast<pv_spec_t *>(p_attrs), attrs);
		list = evi_get_params();
		if (!list) return -1;
		for (size_t i = 0; i < vals.size(); i++) {
			str name{nullptr, 0};
			if (p_attrs) {
				if (i >= attrs.size()) {
					LM_ERR("raise_event: missing attribute for value %zu", i + 1);
					evi_free_params(list);
					return -1;
				}
				if (attrs[i].is_int) {
					LM_ERR("raise_event: attribute %zu is not a string", i + 1);
					evi_free_params(list);
					return -1;
				}
				name.s = attrs[i].s.data();
				name.len = (int)attrs[i].s.size();
			}
			int rc;
			if (vals[i].is_int) {
				int n = (int)vals[i].i;
				rc = evi_param_add_int(list, p_attrs ? &name : nullptr, &n);
			} else {
				str v{vals[i].s.data(), (int)vals[i].s.size()};
				rc = evi_param_add_str(list, p_attrs ? &name : nullptr, &v);
			}
			if (rc < 0) {
				evi_free_params(list);
				return -1;
			}
		}
		if (p_attrs && attrs.size() > vals.size())
			LM_ERR("raise_event: %zu attributes without a value",
			       attrs.size() - vals.size());
	}
	// the copy is taken inside evi_raise_event, before `vals` goes away
	return evi_raise_event(id, list) < 0 ? -1 : 1;
}

// subscribe_event(event, socket[, expire])
int w_subscribe_event(struct sip_msg *, void *p_ev, void *p_sock, void *p_exp,
                      void *, void *, void *, void *, void *)
{
	str *ev = static_cast<str *>(p_ev);
	str *sock = static_cast<str *>(p_sock);
	int expire = p_exp ? *static_cast<int *>(p_exp) : 0;
	if (!ev || !sock || expire < 0) return -1;
	// no expire, or 0: never expires (the script path)
	int rc = evi_subscribe(*ev, *sock, (unsigned int)expire, false);
	if (rc == -1) {
		LM_ERR("cannot subscribe '%.*s' to event '%.*s'", sock->len, sock->s,
		       ev->len, ev->s);
		return -1;
	}
	return rc < 0 ? 0 : 1;
}

const cmd_export_t g_cmds[] = {
    {"raise_event", w_raise_event,
     {{CMD_PARAM_STR, nullptr, nullptr},
      {CMD_PARAM_VAR | CMD_PARAM_OPT, nullptr, nullptr},
      {CMD_PARAM_VAR | CMD_PARAM_OPT, nullptr, nullptr},
      {0, nullptr, nullptr}},
     ALL_ROUTES},
    {"subscribe_event", w_subscribe_event,
     {{CMD_PARAM_STR, nullptr, nullptr},
      {CMD_PARAM_STR, nullptr, nullptr},
      {CMD_PARAM_INT | CMD_PARAM_OPT, nullptr, nullptr},
      {0, nullptr, nullptr}},
     ALL_ROUTES},
    {nullptr, nullptr, {{0, nullptr, nullptr}}, 0},
};

} // namespace
} // namespace shim::evi

namespace shim {

const cmd_export_t *evi_find_script_cmd(const std::string &name)
{
	for (const cmd_export_t *c = evi::g_cmds; c->name; c++)
		if (name == c->name) return c;
	return nullptr;
}

} // namespace shim
