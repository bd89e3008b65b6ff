/* The module ABI: what a loadable module exports to the host.
 *
 * Every module .so defines one data symbol `exports` of type
 * `struct module_exports`, with the fields in the order below. The loader
 * compares `ver_info.version` and `ver_info.compile_flags` with its own
 * (SHIM_FULL_VERSION, SHIM_ABI_STRING) and refuses a module that differs. */
#ifndef OPENSIPS_SR_MODULE_H
#define OPENSIPS_SR_MODULE_H

#include "str.h"
#include "version.h"
#include "dprint.h"
#include "mi.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sip_msg;

/* ---- route types (route.h) ---- */
#define REQUEST_ROUTE  (1 << 0)
#define FAILURE_ROUTE  (1 << 1)
#define ONREPLY_ROUTE  (1 << 2)
#define BRANCH_ROUTE   (1 << 3)
#define ERROR_ROUTE    (1 << 4)
#define LOCAL_ROUTE    (1 << 5)
#define STARTUP_ROUTE  (1 << 6)
#define TIMER_ROUTE    (1 << 7)
#define EVENT_ROUTE    (1 << 8)
#define ALL_ROUTES                                                            \
	(REQUEST_ROUTE | FAILURE_ROUTE | ONREPLY_ROUTE | BRANCH_ROUTE |            \
	 ERROR_ROUTE | LOCAL_ROUTE | STARTUP_ROUTE | TIMER_ROUTE | EVENT_ROUTE)

/* ---- script functions (cmds.h) ---- */
#define MAX_CMD_PARAMS 8

#define CMD_PARAM_INT       (1 << 0) /* function gets int* */
#define CMD_PARAM_STR       (1 << 1) /* function gets str* (format expanded) */
#define CMD_PARAM_VAR       (1 << 2) /* function gets pv_spec_t* */
#define CMD_PARAM_REGEX     (1 << 3) /* function gets regex_t* */
#define CMD_PARAM_OPT       (1 << 4) /* may be omitted: function gets NULL */
#define CMD_PARAM_FIX_NULL  (1 << 5) /* run the fixup even when omitted */
#define CMD_PARAM_NO_EXPAND (1 << 6) /* no $var expansion in a literal */
#define CMD_PARAM_STATIC    (1 << 7) /* literals only */

/* A fixup receives a pointer to the value pointer (int* or str* as above)
 * and may replace it. For literals it runs once at startup; for variables
 * and format strings it runs on every call. < 0 fails. */
typedef int (*fixup_function)(void **param);
typedef int (*free_fixup_function)(void **param);

/* A script function: > 0 true, < 0 false, 0 ends the script. */
typedef int (*cmd_function)(struct sip_msg *msg, void *p1, void *p2, void *p3,
                            void *p4, void *p5, void *p6, void *p7, void *p8);

struct cmd_param {
	int flags;
	fixup_function fixup;
	free_fixup_function free_fixup;
};

typedef struct cmd_export_ {
	const char *name;
	cmd_function function;
	struct cmd_param params[MAX_CMD_PARAMS + 1]; /* ends with {0,0,0} */
	int flags;                                   /* route types allowed */
} cmd_export_t;

typedef struct acmd_export_ {
	const char *name;
	cmd_function function;
	struct cmd_param params[MAX_CMD_PARAMS + 1];
} acmd_export_t;

/* ---- module parameters (modparam.h) ---- */
typedef unsigned int modparam_t;
#define STR_PARAM      (1U << 0)
#define INT_PARAM      (1U << 1)
#define USE_FUNC_PARAM (1U << 31)
#define PARAM_TYPE_MASK(_x) ((_x) & (~USE_FUNC_PARAM))

/* With USE_FUNC_PARAM the pointer is this function; val is a char* for
 * STR_PARAM or (void*)(long)int for INT_PARAM. < 0 fails the cfg. */
typedef int (*param_func_t)(modparam_t type, void *val);

typedef struct param_export_ {
	const char *name;
	modparam_t type;
	void *param_pointer;
} param_export_t;

/* ---- dependencies (sr_module_deps.h) ---- */
enum module_type {
	MOD_TYPE_NULL = 0,
	MOD_TYPE_DEFAULT,
	MOD_TYPE_SQLDB,
	MOD_TYPE_CACHEDB,
	MOD_TYPE_AAA,
};

#define DEP_SILENT          (1 << 0)
#define DEP_WARN            (1 << 1)
#define DEP_ABORT           (1 << 2)
#define DEP_REVERSE_MINIT   (1 << 3)
#define DEP_REVERSE_DESTROY (1 << 4)
#define DEP_REVERSE_CINIT   (1 << 5)
#define MAX_MOD_DEPS 10

typedef struct module_dependency {
	enum module_type mod_type;
	const char *mod_name;
	unsigned int type;
} module_dependency_t;

typedef module_dependency_t *(*module_dep_f)(const param_export_t *param);

typedef struct modparam_dependency {
	const char *script_param;
	module_dep_f get_deps_f;
} modparam_dependency_t;

typedef struct dep_export_ {
	module_dependency_t md[MAX_MOD_DEPS];
	modparam_dependency_t mpd[];
} dep_export_t;

/* ---- statistics: stat_export_t comes from statistics.h ---- */
#include "statistics.h"

/* ---- extra threads a module runs (proc_export_t) ----
 * The host starts `no` threads named `name`. In each, child_init(-2) runs
 * (with PROC_FLAG_INITCHILD), then `function(rank)` runs once to set up
 * watchers on shim_thread_loop(); when it returns the host runs that loop
 * until shutdown. A function that prefers to block must return when
 * shim_should_stop() becomes true. */
typedef void (*mod_proc)(int rank);
typedef int (*mod_proc_wrapper)(void);

typedef struct proc_export_ {
	const char *name;
	mod_proc_wrapper pre_fork_f;
	mod_proc_wrapper post_fork_f;
	mod_proc function;
	unsigned int no;
	unsigned int flags;
} proc_export_t;
#define PROC_FLAG_INITCHILD    (1 << 0)
#define PROC_FLAG_HAS_IPC      (1 << 1)
#define PROC_FLAG_NEEDS_SCRIPT (1 << 2)

/* child_init ranks */
#define PROC_MAIN      0
#define PROC_TIMER    -1
#define PROC_MODULE   -2
#define PROC_TCP_MAIN -4

typedef int (*mod_load_function)(void);
typedef int (*init_function)(void);
typedef int (*child_init_function)(int rank);
typedef void (*destroy_function)(void);
typedef int (*response_function)(struct sip_msg *msg);
typedef int (*reload_confirm_function)(void);

struct scm_version {
	const char *type;
	const char *rev;
};

struct module_version {
	const char *version;
	const char *compile_flags;
	struct scm_version scm;
};

#define MODULE_VERSION { SHIM_FULL_VERSION, SHIM_ABI_STRING, { "shim", "" } }
#define DEFAULT_DLFLAGS 0

struct module_exports {
	const char *name;                     /* 1  module name */
	enum module_type type;                /* 2  MOD_TYPE_* */
	struct module_version ver_info;       /* 3  MODULE_VERSION */
	int dlflags;                          /* 4  DEFAULT_DLFLAGS = RTLD_NOW */
	mod_load_function load_f;             /* 5  right after dlopen */
	const dep_export_t *deps;             /* 6  dependencies */
	const cmd_export_t *cmds;             /* 7  script functions */
	const acmd_export_t *acmds;           /* 8  async script functions */
	const param_export_t *params;         /* 9  modparams */
	const stat_export_t *stats;           /* 10 statistics */
	const mi_export_t *mi_cmds;           /* 11 MI commands */
	const void *items;                    /* 12 pseudo-variables (unused) */
	const void *trans;                    /* 13 transformations (unused) */
	const proc_export_t *procs;           /* 14 extra threads */
	mod_load_function preinit_f;          /* 15 reverse load order */
	init_function init_f;                 /* 16 load order, deps first */
	response_function response_f;         /* 17 received replies */
	destroy_function destroy_f;           /* 18 at shutdown */
	child_init_function init_child_f;     /* 19 in each thread */
	reload_confirm_function reload_ack_f; /* 20 script reload */
};

/* The one symbol a module exports. Declared here with default visibility so
 * modules can be built with -fvisibility=hidden and still export it. */
extern __attribute__((visibility("default"))) struct module_exports exports;

#ifdef __cplusplus
}
#endif
#endif
