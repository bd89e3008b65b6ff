// The EVI's state (evi_internal.h: evi_state, its locks and their order).
#include "evi/evi_internal.h"

namespace shim::evi {

thread_local int t_delivery_level = 0;
thread_local int t_raise_level = 0;

evi_state &st()
{
	static evi_state *s = new evi_state; // kept until exit, see the header
	return *s;
}

} // namespace shim::evi
