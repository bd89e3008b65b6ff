/* Management Interface: command registration and the reply builder API.
 *
 * Items are opaque trees (objects, arrays, strings, numbers, booleans, null)
 * owned by the response they belong to. A handler builds a response with the
 * init_mi_* functions, fills it with add_mi_* and returns it; the MI core
 * prints it and frees it. */
#ifndef OPENSIPS_MI_H
#define OPENSIPS_MI_H

#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MAX_MI_PARAMS  20
#define MAX_MI_RECIPES 48
#define MAX_MI_ALIASES 4

#define MI_ASYNC_RPL_FLAG    (1 << 0)
#define MI_NAMED_PARAMS_ONLY (1 << 1)

/* JSON-RPC error codes */
#define JSONRPC_PARSE_ERR_CODE      -32700
#define JSONRPC_INVAL_REQ_CODE      -32600
#define JSONRPC_NOT_FOUND_CODE      -32601
#define JSONRPC_INVAL_PARAMS_CODE   -32602
#define JSONRPC_SERVER_ERR_CODE     -32000
#define JSONRPC_AMBIGUOUS_CODE      -32001

typedef struct mi_item mi_item_t;
typedef struct mi_item mi_response_t;

typedef struct mi_params_ {
	mi_item_t *item;  /* the request's params (object or array), or NULL */
	char **list;      /* the selected recipe's parameter names, NULL-ended */
} mi_params_t;

struct mi_handler; /* async replies: not used by this host yet */
#define MI_ASYNC_RPL ((mi_response_t *)-1)

typedef mi_response_t *(mi_cmd_f)(const mi_params_t *params,
                                  struct mi_handler *async_hdl);
typedef int (mi_child_init_f)(void);

typedef struct mi_recipe_ {
	mi_cmd_f *cmd;                      /* NULL ends the recipe list */
	const char *params[MAX_MI_PARAMS + 1]; /* NULL-ended parameter names */
} mi_recipe_t;

typedef struct mi_export_ {
	const char *name;   /* local name, no ':'; NULL ends the array */
	const char *help;
	unsigned int flags;
	mi_child_init_f *init_f;
	mi_recipe_t recipes[MAX_MI_RECIPES];
	const char *aliases[MAX_MI_ALIASES]; /* 3.x names, NULL-ended */
} mi_export_t;

/* Registers `cmds` under the namespace `mod_name` ("core", "evi", ...).
 * Modules' own mi_cmds are registered by the loader under the module name
 * (with a leading "proto_" removed). Returns 0 or -1 (duplicate name). */
int register_mi_mod(const char *mod_name, const mi_export_t *cmds);

/* Runs every registered command's init_f once in the calling thread; each
 * MI transport thread calls it before serving requests (init_mi_child in
 * OpenSIPS). 0, or -1 if an init_f failed. */
int init_mi_child(void);

/* ---- responses ---- */
mi_response_t *init_mi_result_object(mi_item_t **object_out);
mi_response_t *init_mi_result_array(mi_item_t **array_out);
mi_response_t *init_mi_result_string(const char *value, int len);
mi_response_t *init_mi_result_number(double value);
mi_response_t *init_mi_result_bool(int value);
mi_response_t *init_mi_result_null(void);
#define init_mi_result_ok() init_mi_result_string("OK", 2)
/* An error object: {"code":code,"message":msg[,"data":details]} */
mi_response_t *init_mi_error_extra(int code, const char *msg, int msg_len,
                                   const char *details, int details_len);
#define init_mi_error(_code, _msg, _len)                                      \
	init_mi_error_extra((_code), (_msg), (_len), NULL, 0)
/* The -32602 error describing the last failed get_mi_*_param() call of this
 * thread ("Bad type for parameter 'x'", ...). */
mi_response_t *init_mi_param_error(void);
void free_mi_response(mi_response_t *response);

/* ---- items: `name` is ignored when `to` is an array ---- */
mi_item_t *add_mi_object(mi_item_t *to, const char *name, int name_len);
mi_item_t *add_mi_array(mi_item_t *to, const char *name, int name_len);
int add_mi_string(mi_item_t *to, const char *name, int name_len,
                  const char *value, int value_len);
int add_mi_string_fmt(mi_item_t *to, const char *name, int name_len,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Exact integers within the int range print as integers (cJSON rules). */
int add_mi_number(mi_item_t *to, const char *name, int name_len, double value);
int add_mi_int(mi_item_t *to, const char *name, int name_len, long long value);
int add_mi_bool(mi_item_t *to, const char *name, int name_len, int value);
int add_mi_null(mi_item_t *to, const char *name, int name_len);

/* ---- parameters ----
 * get_*: 0 on success, < 0 on failure; on failure the MI core records why,
 * and a handler returning init_mi_param_error() reports it.
 * try_get_*: 0 found, -1 absent, -2 wrong type (nothing recorded). */
int get_mi_string_param(const mi_params_t *params, const char *name,
                        char **value, int *value_len);
int get_mi_int_param(const mi_params_t *params, const char *name, int *value);
int get_mi_array_param(const mi_params_t *params, const char *name,
                       mi_item_t **value, int *no_items);
int get_mi_arr_param_string(const mi_item_t *array, int index, char **value,
                            int *value_len);
int get_mi_arr_param_int(const mi_item_t *array, int index, int *value);
int try_get_mi_string_param(const mi_params_t *params, const char *name,
                            char **value, int *value_len);
int try_get_mi_int_param(const mi_params_t *params, const char *name,
                         int *value);
/* Raw access for commands whose parameter takes any JSON (evi:raise). */
mi_item_t *get_mi_param_item(const mi_params_t *params, const char *name);
/* Prints any item as compact JSON into a malloc'ed buffer (free()). */
char *mi_item_print(const mi_item_t *item, int *len);

/* ---- running a request (used by MI transport modules) ---- */
enum mi_run_status {
	MI_RUN_REPLY = 0,         /* *reply holds a JSON-RPC response */
	MI_RUN_NO_REPLY = 1,      /* a notification: send nothing */
	MI_RUN_PARSE_ERROR = 2,   /* not JSON: *reply holds the -32700 response */
	MI_RUN_INTERNAL_ERROR = 3 /* *reply is NULL */
};

/* Runs one JSON-RPC request (object or batch array) and prints the reply
 * (compact, or pretty when `pretty`). `transport` names the caller for
 * counters ("fifo", "datagram", "http"). *reply is malloc'ed: free it with
 * mi_free_reply(), which is free(), or hand it on to whatever takes a
 * malloc()ed buffer (httpd's reply body). Safe to call from any thread. */
int mi_run_jsonrpc(const char *request, int len, int pretty,
                   const char *transport, char **reply, int *reply_len);
void mi_free_reply(char *reply);

#ifdef __cplusplus
}
#endif
#endif
