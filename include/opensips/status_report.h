/* The Status/Report C API, owned by status_report.so and bound by other
 * modules:
 *
 *     struct sr_api sr;
 *     if (load_sr_api(&sr) < 0) return -1;
 *     void *grp = sr.register_group("mymod", 5, 0);
 */
#ifndef OPENSIPS_STATUS_REPORT_H
#define OPENSIPS_STATUS_REPORT_H

#include <limits.h>
#include "str.h"
#include "host.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sr_status {
	SR_STATUS_NOT_FOUND = INT_MIN,
	SR_STATUS_NO_DATA = -2,
	SR_STATUS_LOADING_DATA = -1,
	SR_STATUS_NOT_READY = -1,
	SR_STATUS_RESERVED = 0,
	SR_STATUS_READY = 1,
	SR_STATUS_RELOADING_DATA = 2,
};

/* Called after a status change (old != new), outside the registry locks,
 * on the thread that made the change. `details` may be NULL. */
typedef void (*sr_status_cb)(const str *group, const str *identifier,
                             int status, const str *details, int old_status,
                             void *param);

/* Visitor for sr_api.walk: one call per identifier; `details` may be
 * NULL. The strings are valid only during the call. */
typedef void (*sr_walk_cb)(const str *group, const str *identifier,
                           int status, const str *details, void *param);

#define SR_API_NAME "status_report"

struct sr_api {
	unsigned int size; /* sizeof(struct sr_api): checked by load_sr_api */
	/* group handle or NULL (duplicate, no memory) */
	void *(*register_group)(const char *name, int len, int is_public);
	void *(*get_group_by_name)(const char *name, int len);
	/* identifier NULL = "main"; 0 / -1 */
	int (*register_identifier)(void *group, const char *id, int id_len,
	                           int init_status, const char *txt, int txt_len,
	                           int max_reports);
	void *(*register_group_with_identifier)(const char *name, int len,
	                                        int is_public, const char *id,
	                                        int id_len, int init_status,
	                                        const char *txt, int txt_len,
	                                        int max_reports);
	int (*unregister_identifier)(void *group, const char *id, int id_len);
	int (*set_status)(void *group, const char *id, int id_len, int status,
	                  const char *txt, int txt_len, int is_public);
	int (*add_report)(void *group, const char *id, int id_len,
	                  const char *report, int report_len, int is_public);
	int (*add_report_fmt)(void *group, const char *id, int id_len,
	                      int is_public, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
	/* status of id (NULL = main; "all" aggregates), SR_STATUS_NOT_FOUND */
	int (*get_status)(void *group, const char *id, int id_len);
	int (*register_status_cb)(sr_status_cb cb, void *param);
	/* every identifier, groups newest first, identifiers newest first */
	void (*walk)(sr_walk_cb cb, void *param);
};

static inline int load_sr_api(struct sr_api *api)
{
	const struct sr_api *p = (const struct sr_api *)shim_find_api(SR_API_NAME);
	if (!p || p->size != sizeof(struct sr_api))
		return -1; /* absent, or built against another ABI */
	*api = *p;
	return 0;
}

#ifdef __cplusplus
}
#endif
#endif
