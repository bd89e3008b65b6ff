/* Profiling hooks (spec §4, design decisions 2 and 5, decisions.md §19, §21).
 *
 * Hook sites (the host's receivers, its timer thread, and module threads
 * such as mi_fifo, mi_datagram and httpd) mark a PROC profiling session:
 *
 *     SHIM_PROF_START(SHIM_PROF_SIP, NULL, 1);        // NULL: my `ps` name
 *     SHIM_PROF_ENTER(SHIM_PROF_SIP, "udp proto reading", 1);
 *     ...work, with nested ENTER/EXIT pairs...
 *     SHIM_PROF_EXIT(SHIM_PROF_SIP, "reading done", 0);
 *     SHIM_PROF_END(SHIM_PROF_SIP, 0);
 *
 * A hook of level L records when L != 0, L <= the thread's profiling level
 * (core:profiling_proc) and E_PROFILING_PROC has subscribers; the last two
 * are checked once, by START, and cached for the session. Nobody enabled:
 * START costs one load of a global and one predictable branch, the other
 * hooks one thread-local load and a branch.
 *
 * Recording never builds an event: the thread writes a fixed binary record
 * (struct shim_prof_record) into its own single-producer ring (no lock, no
 * allocation, no syscall). The host's `profiling sender` thread drains the
 * rings and hands the records to the sink event_profiling installs, which
 * raises E_PROFILING_PROC / E_PROFILING_SCRIPT. A full ring drops whole
 * sessions and counts them.
 *
 * Names and `file` strings must stay valid while the host runs: string
 * literals, __func__, roster names, or shim_prof_intern() results. */
#ifndef OPENSIPS_PROFILING_H
#define OPENSIPS_PROFILING_H

#include "evi.h"
#include "mi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Levels (OpenSIPS's enum profiling_proc_level). */
#define SHIM_PROF_OFF        0
#define SHIM_PROF_SIP        1
#define SHIM_PROF_EXTRAPROCS 2
#define SHIM_PROF_TIMER      3
#define SHIM_PROF_FULL       3

/* Verbs, as the `verb` parameter spells them: start enter exit end. */
#define SHIM_PROF_VERB_START 0
#define SHIM_PROF_VERB_ENTER 1
#define SHIM_PROF_VERB_EXIT  2
#define SHIM_PROF_VERB_END   3

/* Which event a record belongs to. */
#define SHIM_PROF_EV_PROC   0
#define SHIM_PROF_EV_SCRIPT 1

/* Script action flags, the SCRIPT `status` on exit/end of a top route. */
#define SHIM_ACT_FL_EXIT   1
#define SHIM_ACT_FL_RETURN 2
#define SHIM_ACT_FL_DROP   4

/* One profiling record: 48 bytes, copied by value into the ring. `file`
 * and `line` mean something on enter/exit only, `status` on exit/end only
 * (the event's other verbs carry them as reset parameters). */
struct shim_prof_record {
	long long sec;       /* CLOCK_REALTIME seconds */
	int usec;            /* microseconds */
	int session;         /* PROC: thread id; SCRIPT: msg->id or 0 */
	const char *name;    /* NULL means "<root>" */
	const char *file;    /* PROC: C function of the hook; SCRIPT: cfg path */
	int line;
	int status;
	int type;            /* PROC: process type; SCRIPT: route-type bit */
	short depth;
	unsigned char verb;  /* SHIM_PROF_VERB_* */
	unsigned char event; /* SHIM_PROF_EV_* */
};

/* ---- hot path ---- */

/* Non-zero when at least one thread has a profiling level above 0. */
extern int shim_prof_proc_armed;
/* The level of the PROC session open on the calling thread, 0 if none. */
extern __thread int shim_prof_session_level;

void shim_prof_start_slow(int level, const char *name, int deferred);
void shim_prof_enter_slow(int level, const char *name, int deferred,
                          const char *file, int line);
void shim_prof_exit_slow(int level, const char *name, int status,
                         const char *file, int line);
void shim_prof_end_slow(int level, int status);

/* Opens a session. `name` NULL: the thread's process description (`ps`
 * Type). `deferred`: held until the first non-deferred enter (spec §4.3). */
static inline void shim_prof_start(int level, const char *name, int deferred)
{
	if (__builtin_expect(__atomic_load_n(&shim_prof_proc_armed,
	                                     __ATOMIC_RELAXED) != 0, 0))
		shim_prof_start_slow(level, name, deferred);
}
static inline void shim_prof_enter(int level, const char *name, int deferred,
                                   const char *file, int line)
{
	if (__builtin_expect(level > 0 && level <= shim_prof_session_level, 0))
		shim_prof_enter_slow(level, name, deferred, file, line);
}
static inline void shim_prof_exit(int level, const char *name, int status,
                                  const char *file, int line)
{
	if (__builtin_expect(level > 0 && level <= shim_prof_session_level, 0))
		shim_prof_exit_slow(level, name, status, file, line);
}
/* Closes the session; the record is named after its start. */
static inline void shim_prof_end(int level, int status)
{
	if (__builtin_expect(level > 0 && level <= shim_prof_session_level, 0))
		shim_prof_end_slow(level, status);
}

/* The hook site's C function and line become `file` and `line`. */
#define SHIM_PROF_START(lvl, name, deferred) shim_prof_start((lvl), (name), (deferred))
#define SHIM_PROF_ENTER(lvl, name, deferred)                                  \
	shim_prof_enter((lvl), (name), (deferred), __func__, __LINE__)
#define SHIM_PROF_EXIT(lvl, name, status)                                     \
	shim_prof_exit((lvl), (name), (status), __func__, __LINE__)
#define SHIM_PROF_END(lvl, status) shim_prof_end((lvl), (status))

/* A stable copy of `s` (equal strings give the same pointer), for names
 * built at run time; NULL when the table (4096 names) is full. Locks:
 * use it only while a session is recording (shim_prof_session_level). */
const char *shim_prof_intern(const char *s, int len);
/* "<prefix> <method>" of a JSON-RPC request, interned; NULL when the
 * request has no method (or the table is full). For MI hook sites. */
const char *shim_prof_mi_name(const char *prefix, const char *request, int len);

/* ---- the consumer side (event_profiling) ---- */

/* Called on the `profiling sender` thread, once per record, each thread's
 * records in order. < 0: the event could not be queued (the sender backs
 * off until its next round). */
typedef int (*shim_prof_deliver_f)(const struct shim_prof_record *rec,
                                   void *param);

struct shim_prof_sink {
	unsigned int size;       /* sizeof(struct shim_prof_sink): checked */
	event_id_t proc_event;   /* E_PROFILING_PROC: its subscribers gate PROC */
	event_id_t script_event; /* E_PROFILING_SCRIPT: gates SCRIPT */
	shim_prof_deliver_f deliver;
	void *param;
	unsigned int max_rate;   /* records handed over per second; 0 = no cap */
};
/* Installs (copies) the sink, or removes it (NULL). Call from init_f or
 * destroy_f. Without a sink nothing is recorded. One owner: 0, or -1 when
 * a sink is installed already or the struct has another size. */
int shim_prof_set_sink(const struct shim_prof_sink *sink);

/* Counters, summed over every thread. */
struct shim_prof_totals {
	unsigned long long records;          /* written into rings */
	unsigned long long delivered;        /* handed to the sink */
	unsigned long long sessions_dropped; /* whole sessions lost: ring full */
	unsigned long long pending;          /* committed, not yet delivered */
};
void shim_prof_get_totals(struct shim_prof_totals *out);
/* Per recording thread: roster id (-1 unmanaged), pid, `ps` Type. */
typedef void (*shim_prof_thread_cb)(int id, int pid, const char *type,
                                    unsigned long long records,
                                    unsigned long long sessions_dropped,
                                    void *param);
void shim_prof_walk_threads(shim_prof_thread_cb cb, void *param);

/* ---- per-thread levels (core:profiling_proc) ---- */
int shim_prof_proc_count(void);
/* Roster id of the thread with OS id `pid`, -1 when none. */
int shim_prof_proc_find_pid(int pid);
/* {"Processes":[{"ID","PID","Profiling level","Type"}]} of every slot
 * (id < 0, running or not) or of slot `id`. */
mi_response_t *shim_prof_proc_list(int id);
/* Clamps `level` to 0..3 and sets it on slot `id`, or on all (id < 0).
 * Returns the level set, -1 for a bad id. */
int shim_prof_set_level(int id, int level);

#ifdef __cplusplus
}
#endif
#endif
