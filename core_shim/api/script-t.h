// The script engine as the layers below cfg/ see it: the types they hand it
// and the entry points they call, through one table that cfg/interp.cc
// fills when the host starts (static initialisation). The SIP front, the
// timer and the EVI route transport run routes through it, so they never
// include cfg/ (tools/check-layering.py keeps core_shim/ free of cycles).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "opensips/pvar.h"

struct sip_msg;

namespace shim {

// A parameter of an event, read in an event_route as $param(name) or
// $param(position, 1-based).
struct script_param {
	std::string name;
	bool is_int = false;
	long i = 0;
	std::string s;
};

struct timer_route_info {
	std::string name;
	unsigned int interval;
};

struct script_runner {
	int (*run_request)(sip_msg *msg);
	int (*last_action_flags)();
	const std::vector<timer_route_info> &(*timer_routes)();
	int (*run_timer)(size_t index);
	int (*find_event_route)(const std::string &name);
	std::vector<std::string> (*event_route_names)();
	int (*run_event_route)(int idx, const std::vector<script_param> &params);
	int (*pv_values)(pv_spec_t *spec, std::vector<script_param> &out);
};

// Filled by cfg/interp.cc; all NULL in a build without the script engine.
extern script_runner g_script_runner;

} // namespace shim
