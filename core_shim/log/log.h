// Host-side logging configuration (the module-facing API is dprint.h).
//
// A log line passes the calling thread's log level, then goes to each
// consumer (spec §3 E_CORE_LOG, §7.1) whose mute state is off and whose
// level filter passes (filter 0, or filter >= level):
//   stderror  stderr, one write(2) per line;
//   syslog    syslog(3), muted unless syslog_enabled;
//   event     g_core_hooks.log (core_events.so raises E_CORE_LOG), muted
//             unless log_event_enabled; never re-entered on the same thread
//             and skipped while shim_log_event_suppress() depth > 0.
// See docs/internals/logging.md.
#pragma once

#include <string>

namespace shim {

// Global log level: the level of threads that have not set their own, and
// the value `log_level = N` sets. Setting it also updates every roster entry.
void log_set_global_level(int level);
int log_global_level();
// The stderror consumer's mute state (stderror_enabled).
void log_set_stderr(bool enabled);
void log_set_prefix(const std::string &prefix); // ":" is appended if non-empty
// "DBG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT"
const char *log_level_name(int level);

// Copies the logging core parameters of g_globals (stderror_enabled,
// syslog_enabled, log_event_enabled, the three level filters,
// log_msg_buf_size, syslog_name/facility) into the consumers. main calls it
// once the cfg is parsed, before modules init; unit tests call it after
// changing g_globals.
void log_apply_cfg();

// Registers core:log_level_filter and core:log_mute_state (main, after
// mi_register_core_commands()).
void log_register_mi();

// Consumer state by name ("stderror", "syslog", "event"): 0, or -1 for an
// unknown consumer. Same effect as the MI commands.
int log_consumer_get(const std::string &name, int *muted, int *level_filter);
int log_consumer_set_filter(const std::string &name, int level_filter);
int log_consumer_set_muted(const std::string &name, int muted);

// xlog gating: xlog_level and the level used when xlog() has none.
extern int xlog_level;
extern int xlog_print_level;

} // namespace shim
