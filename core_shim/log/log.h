// Host-side logging configuration (the module-facing API is dprint.h).
#pragma once

#include <string>

namespace shim {

// Global log level: the level of threads that have not set their own, and
// the value `log_level = N` sets. Setting it also updates every roster entry.
void log_set_global_level(int level);
int log_global_level();
void log_set_stderr(bool enabled);
void log_set_prefix(const std::string &prefix); // ":" is appended if non-empty
// "DBG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT"
const char *log_level_name(int level);

// xlog gating: xlog_level and the level used when xlog() has none.
extern int xlog_level;
extern int xlog_print_level;

} // namespace shim
