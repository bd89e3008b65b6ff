/* Pseudo-variables as seen by module functions that take CMD_PARAM_VAR.
 *
 * A pv_spec_t is opaque: the host's description of one variable written in
 * the script ($var(x), $avp(x), $rU, ...). The accessors work on the calling
 * thread's current script run (the one that called the module function). */
#ifndef OPENSIPS_PVAR_H
#define OPENSIPS_PVAR_H

#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sip_msg;
typedef struct pv_spec pv_spec_t;

/* 0 and *out set (valid until the script run ends or the variable changes),
 * -1 when the variable is NULL/unset. An integer value is printed. */
int pv_get_strval(struct sip_msg *msg, pv_spec_t *spec, str *out);
/* 0 and *out set, -1 when NULL/unset or not an integer. */
int pv_get_intval(struct sip_msg *msg, pv_spec_t *spec, int *out);
/* Every value of the variable, newest first (an $avp list; one value for
 * others); at most `max`. Returns the count (0 when unset). */
int pv_get_strvals(struct sip_msg *msg, pv_spec_t *spec, str *out, int max);
/* Writes $var/$avp ($avp pushes a value). 0, or -1 (read-only variable). */
int pv_set_strval(struct sip_msg *msg, pv_spec_t *spec, const str *val);
int pv_set_intval(struct sip_msg *msg, pv_spec_t *spec, int val);

#ifdef __cplusplus
}
#endif
#endif
