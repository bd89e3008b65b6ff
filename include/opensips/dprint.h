/* Logging for modules. Levels and macro names as OpenSIPS has them. */
#ifndef OPENSIPS_DPRINT_H
#define OPENSIPS_DPRINT_H

#ifdef __cplusplus
extern "C" {
#endif

#define L_ALERT  -3
#define L_CRIT   -2
#define L_ERR    -1
#define L_WARN    1
#define L_NOTICE  2
#define L_INFO    3
#define L_DBG     4

/* Every module is compiled with -DMOD_NAME=\"<name>\"; the host uses "core". */
#ifndef MOD_NAME
#define MOD_NAME "core"
#endif

/* Current log level of the calling thread (per process in OpenSIPS). */
int shim_log_level(void);

/* Emits one log line if `level` passes the calling thread's log level.
 * `module` and `func` may be NULL (xlog lines have neither). */
void shim_log(int level, const char *module, const char *func,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define LOG(lev, fmt, ...)                                                    \
	do {                                                                      \
		if ((lev) <= shim_log_level())                                        \
			shim_log((lev), MOD_NAME, __func__, fmt, ##__VA_ARGS__);          \
	} while (0)

#define LM_ALERT(fmt, ...)  LOG(L_ALERT, fmt, ##__VA_ARGS__)
#define LM_CRIT(fmt, ...)   LOG(L_CRIT, fmt, ##__VA_ARGS__)
#define LM_ERR(fmt, ...)    LOG(L_ERR, fmt, ##__VA_ARGS__)
#define LM_WARN(fmt, ...)   LOG(L_WARN, fmt, ##__VA_ARGS__)
#define LM_NOTICE(fmt, ...) LOG(L_NOTICE, fmt, ##__VA_ARGS__)
#define LM_INFO(fmt, ...)   LOG(L_INFO, fmt, ##__VA_ARGS__)
#define LM_DBG(fmt, ...)    LOG(L_DBG, fmt, ##__VA_ARGS__)
#define LM_BUG(fmt, ...)    LOG(L_CRIT, "BUG: " fmt, ##__VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
