// Host logging: one line per call, written with a single write(2) so lines
// from different threads never interleave.
#include "log/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>

#include "opensips/dprint.h"
#include "opensips/host.h"
#include "proc/roster.h"

namespace shim {

int xlog_level = L_NOTICE;
int xlog_print_level = L_NOTICE;

namespace {
std::atomic<int> g_level{L_NOTICE};
std::atomic<bool> g_stderr{true};
std::mutex g_prefix_mu;
std::string g_prefix; // written at startup only; guarded for MI readers
} // namespace

void log_set_global_level(int level)
{
	g_level.store(level, std::memory_order_relaxed);
	for (int i = 0; i < roster_size(); i++)
		roster_get(i)->log_level.store(level, std::memory_order_relaxed);
}

int log_global_level() { return g_level.load(std::memory_order_relaxed); }

void log_set_stderr(bool enabled) { g_stderr.store(enabled); }

void log_set_prefix(const std::string &prefix)
{
	std::lock_guard<std::mutex> lk(g_prefix_mu);
	g_prefix = prefix.empty() ? std::string() : prefix + ":";
}

const char *log_level_name(int level)
{
	switch (level) {
	case L_ALERT: return "ALERT";
	case L_CRIT: return "CRITICAL";
	case L_ERR: return "ERROR";
	case L_WARN: return "WARNING";
	case L_NOTICE: return "NOTICE";
	case L_INFO: return "INFO";
	default: return level >= L_DBG ? "DBG" : "ALERT";
	}
}

} // namespace shim

using namespace shim;

extern "C" int shim_log_level(void)
{
	proc_entry *self = roster_self();
	if (self)
		return self->log_level.load(std::memory_order_relaxed);
	return g_level.load(std::memory_order_relaxed);
}

extern "C" void shim_log(int level, const char *module, const char *func,
                         const char *fmt, ...)
{
	if (level > shim_log_level() || !g_stderr.load(std::memory_order_relaxed))
		return;

	char line[4096];
	time_t now = time(nullptr);
	struct tm tm;
	localtime_r(&now, &tm);
	size_t n = strftime(line, sizeof(line), "%b %e %H:%M:%S ", &tm);
	std::string prefix;
	{
		std::lock_guard<std::mutex> lk(g_prefix_mu);
		prefix = g_prefix;
	}
	n += snprintf(line + n, sizeof(line) - n, "[%d] %s%s:", shim_my_pid(),
	              prefix.c_str(), log_level_name(level));
	if (module && func)
		n += snprintf(line + n, sizeof(line) - n, "%s:%s: ", module, func);
	else
		n += snprintf(line + n, sizeof(line) - n, " ");
	if (n < sizeof(line)) {
		va_list ap;
		va_start(ap, fmt);
		int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += (size_t)m;
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	// One newline at the end, whether or not the message had one.
	while (n > 0 && line[n - 1] == '\n')
		n--;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
