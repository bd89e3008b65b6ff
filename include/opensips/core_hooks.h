/* Hooks the host calls at the points core events come from. core_events.so
 * installs them (design decision 2); a hook nobody installed costs one
 * predictable branch. Every hook runs on the thread where the thing
 * happened and must not block (it raises an event, which only queues). */
#ifndef OPENSIPS_CORE_HOOKS_H
#define OPENSIPS_CORE_HOOKS_H

#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

struct core_event_hooks {
	unsigned int size; /* sizeof(struct core_event_hooks): checked */
	/* A measured operation took longer than its threshold (µs):
	 * source "msg processing" | "dns" | "tcp ops". */
	void (*threshold)(const char *source, int time_us, const char *extra,
	                  int extra_len);
	/* Memory thresholds (spec §3 rule applied by the host). pid is the
	 * calling thread's id. used/size are already truncated to 32 bits. */
	void (*pkg_threshold)(int usage, int threshold, int used, int size,
	                      int pid);
	void (*shm_threshold)(int usage, int threshold, int used, int size);
	/* A worker was added ("up") or retired ("down"). */
	void (*proc_auto_scale)(const char *group_type, const char *group_filter,
	                        int group_load, const char *scale, int process_id,
	                        int pid);
	/* A TCP connection object was destroyed. */
	void (*tcp_disconnect)(const char *src_ip, int src_port,
	                       const char *dst_ip, int dst_port,
	                       const char *proto);
	/* One log line accepted by the `event` consumer. `module`/`function`
	 * are NULL for xlog lines; `prefix` is NULL when log_prefix is empty
	 * (else it ends with ':'); `message` has no trailing newline. `time` is
	 * "Mmm dd hh:mm:ss". */
	void (*log)(const char *time, int pid, const char *level,
	            const char *module, const char *function, const char *prefix,
	            const char *message, int message_len);
};

/* Installs the hooks (copied). Call from load_f/init_f. One owner: 0, or
 * -1 when another module's hooks are installed (NULL removes them; a
 * struct of another size is refused). */
int shim_set_core_event_hooks(const struct core_event_hooks *hooks);

/* E_CORE_LOG suppression for the calling thread: while > 0, log lines do
 * not reach the `event` consumer (event_route runs, event senders). Returns
 * the previous depth. */
int shim_log_event_suppress(int on);

/* Runs a name resolution the way the host does it (measured against
 * exec_dns_threshold). Returns 0 / -1. Used by modules and testmod. */
int shim_resolve_host(const char *name, char *ip_out, int ip_len);

#ifdef __cplusplus
}
#endif
#endif
