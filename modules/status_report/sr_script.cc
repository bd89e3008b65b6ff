// Script functions and the modparam of status_report (spec §1.5, §1.6).
#include "sr_script.h"

#include <ctype.h>
#include <string.h>

#include <new>

#include "opensips/dprint.h"
#include "sr_registry.h"

extern "C" {

int fixup_sr_group(void **param)
{
	const str *name = (const str *)*param;
	if (!name || !name->s) {
		LM_ERR("missing SR group name\n");
		return -1;
	}
	sr::group *g = sr::find_group(name->s, name->len);
	if (!g) {
		LM_ERR("SR group [%.*s] not registered\n", name->len, name->s);
		return -1;
	}
	*param = (void *)g;
	return 0;
}

// sr_check_status(group[, identifier]): the status itself, INT_MIN when the
// identifier is unknown; never 0.
int w_sr_check_status(struct sip_msg *, void *group, void *identifier, void *,
                      void *, void *, void *, void *, void *)
{
	if (!group)
		return -1;
	const str *id = (const str *)identifier;
	// A given identifier is always a literal name, "" included.
	int st = id ? sr::get_status((sr::group *)group, id->s ? id->s : "",
	                             id->s ? id->len : 0)
	            : sr::get_status((sr::group *)group, nullptr, -1);
	return st == 0 ? SR_STATUS_READY : st;
}

// sr_set_status(group, status[, details]): `main`, public caller.
int w_sr_set_status(struct sip_msg *, void *group, void *status,
                    void *details, void *, void *, void *, void *, void *)
{
	if (!group || !status)
		return -1;
	const str *d = (const str *)details;
	int rc;
	try {
		rc = sr::set_status((sr::group *)group, nullptr, -1, *(int *)status,
		                    d ? d->s : nullptr, d ? d->len : 0, 1);
	} catch (const std::bad_alloc &) {
		LM_ERR("out of memory setting a SR status\n");
		rc = -1;
	}
	return rc < 0 ? -1 : 1;
}

// sr_add_report(group, report): `main`, public caller.
int w_sr_add_report(struct sip_msg *, void *group, void *report, void *,
                    void *, void *, void *, void *, void *)
{
	const str *r = (const str *)report;
	if (!group || !r)
		return -1;
	int rc;
	try {
		rc = sr::add_report((sr::group *)group, nullptr, -1, r->s, r->len, 1);
	} catch (const std::bad_alloc &) {
		LM_ERR("out of memory adding a SR report\n");
		rc = -1;
	}
	return rc < 0 ? -1 : 1;
}

int sr_script_group_param(modparam_t, void *val)
{
	const char *s = (const char *)val;
	if (!s) {
		LM_ERR("empty script_sr_group\n");
		return -1;
	}
	const char *e = s + strlen(s);
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	int len = (int)(e - s);
	if (len == 0) {
		LM_ERR("empty script_sr_group\n");
		return -1;
	}
	try {
		sr::group *g = sr::register_group(s, len, 1);
		if (!g) {
			LM_ERR("failed to register script SR group [%.*s]\n", len, s);
			return -1;
		}
		if (sr::register_identifier(g, nullptr, -1, SR_STATUS_READY, nullptr,
		                            0, 50) < 0) {
			LM_ERR("failed to add identifier main to SR group [%.*s]\n", len,
			       s);
			return -1;
		}
	} catch (const std::bad_alloc &) {
		LM_ERR("out of memory registering SR group [%.*s]\n", len, s);
		return -1;
	}
	return 0;
}

} // extern "C"
