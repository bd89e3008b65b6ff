/* Event Interface, producer side (spec §2.1-2.3).
 *
 *     static event_id_t ev = EVI_ERROR;
 *     ev = evi_publish_event(&name);            // in init_f
 *     if (evi_probe_event(ev) > 0) {            // cheap: one flag read
 *         evi_params_p p = evi_get_params();
 *         evi_param_add_int(p, &name_status, &status);
 *         evi_raise_event(ev, p);               // takes ownership of p
 *     }
 *
 * Raising never blocks on a subscriber: the host copies the parameters into
 * each subscriber's bounded queue and a sender thread delivers them (design
 * decision 5). A full queue drops the event and counts it. */
#ifndef OPENSIPS_EVI_H
#define OPENSIPS_EVI_H

#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int event_id_t;
#define EVI_ERROR -1
#define MAX_EVENT_NAME 64

#define EVI_INT_VAL   0x01
#define EVI_STR_VAL   0x02
#define EVI_FREE_LIST (1U << 31)

typedef struct evi_param_ {
	int flags;           /* EVI_INT_VAL, EVI_STR_VAL, or 0 = no value */
	union {
		int n;
		str s;
	} val;
	str name;            /* name.s == NULL: unnamed */
	struct evi_param_ *next;
} evi_param_t, *evi_param_p;

typedef struct evi_params_ {
	unsigned int flags;  /* EVI_FREE_LIST when from evi_get_params() */
	evi_param_p first;
	evi_param_p last;
} evi_params_t, *evi_params_p;

/* Publishes `name` (byte-exact). Returns its dense id; an existing name
 * returns the existing id (with a warning); EVI_ERROR on a bad name. */
event_id_t evi_publish_event(str name);
event_id_t evi_get_id(str *name);
/* 0: no subscribers; > 0: subscribers exist; -1: bad id. */
int evi_probe_event(event_id_t id);
/* The name of an event (NULL for a bad id). */
const str *evi_get_event_name(event_id_t id);

evi_params_p evi_get_params(void);
void evi_free_params(evi_params_p list);
/* Append a parameter; `name` may be NULL (unnamed). Strings are NOT
 * copied until the event is raised. 0 / -1. */
int evi_param_add_int(evi_params_p list, str *name, int *value);
int evi_param_add_str(evi_params_p list, str *name, str *value);
/* A parameter without a value, to be set later; NULL on failure. */
evi_param_p evi_param_create(evi_params_p list, str *name);
int evi_param_set_int(evi_param_p param, int *value);
int evi_param_set_str(evi_param_p param, str *value);
/* Removes the value: transports then skip the parameter. */
void evi_param_reset(evi_param_p param);

/* Raises the event to every subscriber (newest first). Takes ownership of
 * `params` (freed when EVI_FREE_LIST is set, on every path). Returns 0, or
 * < 0 when some delivery could not even be queued. */
int evi_raise_event(event_id_t id, evi_params_p params);

#ifdef __cplusplus
}
#endif
#endif
