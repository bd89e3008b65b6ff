/* Statistics: named values grouped by module, read by `statistics:get`,
 * `statistics:list` and the prometheus module.
 *
 * Three kinds:
 * - counters (incremental): update_stat() adds; statistics:reset sets them
 *   back to 0 for readers (the writers' slots are never touched).
 * - gauges (STAT_NO_RESET): update_stat() adds or subtracts; reset leaves
 *   them alone, as OpenSIPS does.
 * - computed (STAT_IS_FUNC): the value is read through a function; they
 *   are never reset.
 *
 * Cost: update_stat() is one relaxed load and store on a slot only the
 * calling thread writes (a per-thread shard); readers add the shards up.
 * No lock, no atomic read-modify-write, no allocation on the hot path
 * (a thread's first update of a block of 512 statistics allocates it).
 *
 * Names: `group:name` in MI replies. Three shapes of statistics share that
 * naming:
 * - plain ones, as every OpenSIPS module has: `core:rcv_requests`;
 * - per-thread ones (OpenSIPS's per-process statistics: `pkmem:3-used_size`,
 *   `load:load-proc-3`), registered with a process id; exporters label them
 *   id / pid / desc;
 * - per-item ones (ours: one statistic per subscriber, per SR identifier,
 *   per worker...): a family name plus labels; their MI name is
 *   `family/value1/value2` (`evi:delivered/E_CORE_LOG/udp`), and exporters
 *   render the family with the labels.
 *
 * Register from load_f/init_f or at run time from any thread; registration
 * takes a lock and may allocate. A statistic lives until the host exits. */
#ifndef OPENSIPS_STATISTICS_H
#define OPENSIPS_STATISTICS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct stat_var_ stat_var;
typedef unsigned long (*stat_function)(void *param);

#define STAT_NO_RESET (1 << 0) /* a gauge: statistics:reset leaves it */
#define STAT_NO_SYNC  (1 << 1) /* accepted: every update is lock-free here */
#define STAT_SHM_NAME (1 << 2) /* accepted: names are always copied */
#define STAT_IS_FUNC  (1 << 3) /* stat_pointer is a stat_function */
#define STAT_COUNTER  (1 << 4) /* with STAT_IS_FUNC: the function's value only
                                * grows; a counter (reset subtracts) */

/* The `stats` slot of module_exports: registered under the module's name
 * before its init_f runs. With STAT_IS_FUNC, stat_pointer is the
 * stat_function cast to stat_var ** (called with a NULL param). */
typedef struct stat_export_ {
	const char *name;
	unsigned short flags;
	stat_var **stat_pointer;
} stat_export_t;

/* 0, or -1 (bad name, or the name exists with another kind). Registering
 * an existing name of the same kind hands back the existing statistic. */
int register_stat(const char *group, const char *name, stat_var **pvar,
                  unsigned short flags);
/* With STAT_IS_FUNC, `pvar` is the stat_function and `ctx` its param;
 * `unsafe` is accepted and ignored (functions must be thread-safe). */
int register_stat2(const char *group, const char *name, stat_var **pvar,
                   unsigned short flags, void *ctx, int unsafe);

/* A per-thread statistic (OpenSIPS's per-process ones). `proc_id` is the
 * roster id (`ID` in core:ps); `name` is the full MI name
 * ("3-used_size"), `family` what exporters call it ("used_size"). */
stat_var *register_proc_stat(const char *group, const char *name,
                             const char *family, int proc_id,
                             unsigned short flags, stat_function f,
                             void *param);

/* A per-item statistic: family + labels (names and values copied). Its MI
 * name is "family/value1/value2...". `help` (may be NULL) is for
 * exporters. Returns the existing one when the same labels exist. */
stat_var *register_item_stat(const char *group, const char *family,
                             const char *help, unsigned short flags,
                             int nlabels, const char *const *label_names,
                             const char *const *label_values);

/* A computed per-item statistic: like register_item_stat, the value read
 * through f(param) (flags gain STAT_IS_FUNC). */
stat_var *register_item_func_stat(const char *group, const char *family,
                                  const char *help, unsigned short flags,
                                  int nlabels, const char *const *label_names,
                                  const char *const *label_values,
                                  stat_function f, void *param);

void update_stat(stat_var *var, long n);
#define inc_stat(v) update_stat((v), 1)
#define dec_stat(v) update_stat((v), -1)
/* Counters only; gauges and computed statistics are left alone. */
void reset_stat(stat_var *var);
/* A gauge set to an absolute value (the caller owns it: one writer). */
void set_stat(stat_var *var, long value);
unsigned long get_stat_val(stat_var *var);
/* "group:name" or a bare name (the first registered with that name). */
stat_var *get_stat(const char *name);

/* ---- for exporters ---- */
struct stat_info {
	unsigned int size;   /* sizeof(struct stat_info) */
	const char *group;
	const char *name;    /* the MI name, without the group */
	const char *family;  /* per-thread and per-item: the family; else name */
	const char *help;    /* NULL when none was given */
	unsigned short flags;
	int incremental;     /* 1: a counter; 0: a gauge or computed */
	int proc_id;         /* per-thread statistics: the roster id; else -1 */
	int proc_pid;        /* per-thread: the thread id; else 0 */
	const char *proc_desc; /* per-thread: the thread's name (core:ps Type) */
	int nlabels;         /* per-item statistics */
	const char *const *label_names;
	const char *const *label_values;
	unsigned long value;
};
/* Visits every statistic in registration order (group order is the order
 * of each group's first statistic). Runs on the caller's thread; the
 * values are read while visiting. Stops when f returns nonzero. */
typedef int (*stat_visit_f)(const struct stat_info *s, void *param);
void stats_walk(stat_visit_f f, void *param);

#ifdef __cplusplus
}
#endif
#endif
