// For the transport modules' unit tests: one event through a transport's
// ABI v2 `raise`, as the host's sender would hand it (no ticket).
#pragma once

#include "opensips/evi_transport.h"

// 0 when the event was delivered (or handed on), -1 when it failed or was
// dropped.
inline int raise1(int (*raise)(evi_delivery *), evi_reply_sock *sock, str *name,
                  evi_params_t *params)
{
	evi_event ev{name, params, {nullptr, 0}};
	int out = -1;
	evi_delivery d{sizeof(evi_delivery), sock, 1, &ev, &out, nullptr, nullptr};
	int rc = raise(&d);
	if (rc < 0 || (out != EVI_OUTCOME_DELIVERED && out != EVI_OUTCOME_LATER))
		return -1;
	return 0;
}
