// The cfg language: parser (cfg file -> globals, modules, routes) and the
// interpreter that runs routes (spec §7, decisions.md §16-17).
#pragma once

#include <string>
#include <vector>

#include "api/script-t.h"
#include "opensips/pvar.h"

struct sip_msg;

namespace shim {

// Parses the cfg: applies globals (g_globals), runs loadmodule/modparam as
// they appear, builds the route tree. On error returns -1 and *err holds
// "<file>:<line>: <message>"; nothing has been started.
int cfg_parse_file(const std::string &path, std::string &err);
int cfg_parse_string(const std::string &text, const std::string &name,
                     std::string &err);

// After modules_init(): resolves route(NAME) calls, runs fixups of literal
// params, checks each function's allowed route types (a sub-route takes its
// callers' types). -1 with *err ("file:line: ...").
int cfg_fixup(std::string &err);

// Drops the parsed script (shutdown, tests).
void cfg_reset();

// Running routes. Each returns the action flags of the run (bit 1 = exit
// reached, bit 2 = drop). They are thread-safe: per-run state lives on the
// caller's stack; $var is per thread.
int script_run_request(sip_msg *msg);
int script_run_startup();   // no-op when there is no startup_route
// The calling thread's last top-level run as OpenSIPS action flags
// (ACT_FL_EXIT 1, ACT_FL_RETURN 2, ACT_FL_DROP 4): profiling status.
int script_last_action_flags();

const std::vector<timer_route_info> &script_timer_routes();
int script_run_timer(size_t index);

// event_route[NAME] blocks. The index is into the event routes only.
// -1 when there is no block for `name`.
int script_find_event_route(const std::string &name);
std::vector<std::string> script_event_route_names();
// A parameter of the event, read in the route as $param(name) or
// $param(position, 1-based).
// Runs event route `idx` on the calling thread (no SIP message); returns the
// action flags.
int script_run_event_route(int idx, const std::vector<script_param> &params);

// Every value of a variable in the calling thread's current script run
// (only inside a function called by the script), newest first for $avp,
// typed (is_int). Returns the count. Used by raise_event.
int script_pv_values(pv_spec_t *spec, std::vector<script_param> &out);

#define SCRIPT_EXIT_FLAG 1
#define SCRIPT_DROP_FLAG 2

} // namespace shim
