// Script side of status_report (spec §1.5, §1.6): the sr_* script functions,
// the fixup that resolves a group name, and the script_sr_group modparam.
#pragma once

#include "opensips/sr_module.h"

// Internal to the module: only `exports` leaves the .so.
#pragma GCC visibility push(hidden)

extern "C" {
// *param: str* group name in, group handle out. Fails (with "SR group [..]
// not registered") for an unknown name: at startup for a literal, per call
// for a variable.
int fixup_sr_group(void **param);

int w_sr_check_status(struct sip_msg *msg, void *group, void *identifier,
                      void *, void *, void *, void *, void *, void *);
int w_sr_set_status(struct sip_msg *msg, void *group, void *status,
                    void *details, void *, void *, void *, void *, void *);
int w_sr_add_report(struct sip_msg *msg, void *group, void *report, void *,
                    void *, void *, void *, void *, void *);

// modparam("status_report", "script_sr_group", "name")
int sr_script_group_param(modparam_t type, void *val);
}

#pragma GCC visibility pop
