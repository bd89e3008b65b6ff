// Record -> E_PROFILING_* parameters (spec §4.1): the ten parameters in
// order, built in a caller-provided buffer (no allocation); parameters that
// the verb does not carry are present with no value (reset), so JSON
// transports omit them and flatstore writes empty columns.
#pragma once

#include "opensips/evi.h"
#include "opensips/profiling.h"

namespace event_profiling {

constexpr int kParams = 10;

struct param_buf {
	evi_params_t list;
	evi_param_t p[kParams];
	int ints[kParams];
	str strs[kParams];
};

// Fills `b` from `r`; &b->list is ready for evi_raise_event (not
// EVI_FREE_LIST: the EVI core copies it and leaves it alone). The strings
// point at the record's names (stable for the host's lifetime).
void build_params(const shim_prof_record *r, param_buf *b);

} // namespace event_profiling
