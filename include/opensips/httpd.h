/* The httpd C API: other modules serve HTTP under a path prefix ("root").
 *
 *     const struct httpd_api *httpd =
 *         (const struct httpd_api *)shim_find_api(HTTPD_API_NAME);
 *     httpd->register_root("mi", "mi_http", my_handler, NULL);
 *
 * Bind it in init_f (declare a DEP_ABORT dependency on "httpd" so httpd's
 * load_f has run) and register roots before the threads start.
 *
 * A root is the first path segment: root "mi" receives "/mi", "/mi/x" and
 * "/mi?q". Handlers run on the single "HTTPD <ip>:<port>" thread, one
 * request at a time: they must not block. Authentication (auth_username /
 * auth_password), size limits, timeouts, keep-alive, HEAD and the framing
 * of the reply are httpd's job; a handler only sees complete requests whose
 * body was sent with Content-Length. */
#ifndef OPENSIPS_HTTPD_H
#define OPENSIPS_HTTPD_H

#ifdef __cplusplus
extern "C" {
#endif

#define HTTPD_API_NAME "httpd"
#define HTTPD_API_VERSION 1

/* A complete request. Every pointer is valid only during the handler call;
 * strings are not NUL-terminated. */
struct httpd_request {
	const char *method;  int method_len;  /* "GET", "POST", "HEAD" -> "GET" */
	const char *path;    int path_len;    /* "/mi/x", raw (not decoded) */
	const char *query;   int query_len;   /* after '?', raw; 0 len if none */
	const char *body;    int body_len;
	const char *remote_ip;                /* NUL-terminated */
	int remote_port;
	int is_head;                          /* the method was HEAD */
	void *conn;                           /* httpd's own, for header() */
	/* Value of the first header called `name` (case-insensitive), or NULL;
	 * *len receives its length. */
	const char *(*header)(const struct httpd_request *req, const char *name,
	                      int *len);
};

/* What a handler fills in. httpd initialises status 200, no content type,
 * no body, no extra headers. `body` and `extra_headers` are malloc()ed by
 * the handler and free()d by httpd; `content_type` must outlive the call
 * (a string literal or module-static text). `extra_headers` is a block of
 * complete "Name: value\r\n" lines. */
struct httpd_reply {
	int status;
	const char *content_type;
	char *body;          int body_len;
	char *extra_headers; int extra_headers_len;
};

/* 0: the reply is filled in. < 0: httpd answers 500. */
typedef int (*httpd_handler_f)(const struct httpd_request *req,
                               struct httpd_reply *rpl, void *param);

struct httpd_api {
	int version; /* HTTPD_API_VERSION */
	/* root without slashes ("mi"); module names the owner for
	 * httpd:list_root_path. 0, or -1 (duplicate root, bad name, too late). */
	int (*register_root)(const char *root, const char *module,
	                     httpd_handler_f handler, void *param);
	/* Copies `len` bytes into a fresh malloc()ed body (replacing any). 0/-1 */
	int (*set_body)(struct httpd_reply *rpl, const char *data, int len);
	/* Appends "name: value\r\n" to extra_headers. 0/-1 */
	int (*add_header)(struct httpd_reply *rpl, const char *name,
	                  const char *value);
};

#ifdef __cplusplus
}
#endif
#endif
