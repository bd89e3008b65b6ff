/* Services the host offers to modules: API registry, lifecycle, threads,
 * timers. */
#ifndef OPENSIPS_HOST_H
#define OPENSIPS_HOST_H

#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop;

/* ---- bindable APIs (the load_<mod>_api pattern) ----
 * A module publishes a struct of function pointers under a name during its
 * load_f/init_f; others fetch it during their init_f. */
int shim_register_api(const char *name, const void *api);
const void *shim_find_api(const char *name);

/* ---- host lifecycle (the `core` SR group follows it) ---- */
enum shim_state {
	SHIM_STATE_NONE = -100,
	SHIM_STATE_TERMINATING = -2,
	SHIM_STATE_INITIALIZING = -1,
	SHIM_STATE_RUNNING = 1,
};
typedef void (*shim_lifecycle_cb)(int new_state, void *param);
/* Listeners run synchronously, in registration order, on the thread that
 * changes the state. TERMINATING is announced from the main thread during
 * shutdown; listeners must not block. */
int shim_add_lifecycle_cb(shim_lifecycle_cb cb, void *param);
int shim_get_state(void);

/* Runs cb on the main thread once the script is fixed up (after every
 * module's init and the script's own event names are published), before
 * worker threads start. E_CORE_LOG is published from here so it comes last
 * (decisions.md §3). 0 / -1. */
int shim_add_post_fixup_cb(void (*cb)(void));

/* Runs cb on the main thread whenever the host receives SIGHUP (after
 * startup). Callbacks must not block: a module thread that has work to do
 * should be woken (ev_async) from here. 0 / -1. */
int shim_add_sighup_cb(void (*cb)(void *param), void *param);

/* ---- threads ---- */
/* The libev loop of the calling host-managed thread (NULL elsewhere). */
struct ev_loop *shim_thread_loop(void);
/* True once shutdown has begun. */
int shim_should_stop(void);
/* The calling thread's roster index (`ID` in `ps`), -1 if unmanaged. */
int shim_process_no(void);
/* The calling thread's OS thread id (`PID` in `ps`). */
int shim_my_pid(void);

/* ---- timers ----
 * Runs f every `interval` seconds on the timer thread; the first run is one
 * interval after startup. Register during init_f. 0 or -1. */
typedef void (*shim_timer_f)(unsigned int ticks, void *param);
int register_timer(const char *label, shim_timer_f f, void *param,
                   unsigned int interval);

/* ---- configuration ---- */
/* "file:line" of the cfg's modparam that last set `param` of `module`, or
 * NULL when the cfg did not set it: for errors found in init_f. */
const char *shim_modparam_where(const char *module, const char *param);

/* ---- running a named route of the script ---- */
/* Index of the script's route[name], or -1 when there is none. Callable
 * from init_f (the script is parsed before modules initialise). */
int shim_script_route_find(const char *name);
/* Runs route `idx` to its end on the calling thread, as a route with no
 * SIP message (module functions get msg == NULL). 0, or -1 for a bad
 * index. */
int shim_script_route_run(int idx);
/* The same, with `n` AVPs set before the route starts: $avp(names[i]) =
 * values[i] (a string; values[i].s NULL: an integer, ints[i]). For report
 * routes (kafka_publish). `ints` may be NULL when every value is a string.
 * 0, or -1 for a bad index or argument. */
int shim_script_route_run_avps(int idx, int n, const char *const *names,
                               const str *values, const int *ints);

/* ---- identity ---- */
/* "opensips-shim (0.1.0 (x86_64/linux))" */
const char *shim_server_version(void);
/* Seconds since the epoch when the host started. */
long shim_startup_time(void);

#ifdef __cplusplus
}
#endif
#endif
