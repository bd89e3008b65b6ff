// MI handlers of status_report (spec §1.7), referenced by the module's
// mi_cmds table.
#pragma once

#include "opensips/mi.h"

// Internal to the module: only `exports` leaves the .so.
#pragma GCC visibility push(hidden)

extern "C" {
mi_response_t *sr_mi_get(const mi_params_t *params, struct mi_handler *h);
mi_response_t *sr_mi_get_id(const mi_params_t *params, struct mi_handler *h);
mi_response_t *sr_mi_status(const mi_params_t *params, struct mi_handler *h);
mi_response_t *sr_mi_status_group(const mi_params_t *params,
                                  struct mi_handler *h);
mi_response_t *sr_mi_reports(const mi_params_t *params, struct mi_handler *h);
mi_response_t *sr_mi_reports_group(const mi_params_t *params,
                                   struct mi_handler *h);
mi_response_t *sr_mi_reports_id(const mi_params_t *params,
                                struct mi_handler *h);
mi_response_t *sr_mi_identifiers(const mi_params_t *params,
                                 struct mi_handler *h);
mi_response_t *sr_mi_identifiers_group(const mi_params_t *params,
                                       struct mi_handler *h);
}

#pragma GCC visibility pop
