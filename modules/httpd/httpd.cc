// httpd: the HTTP server other modules serve under (include/opensips/httpd.h:
// mi_http, sr_http, prometheus), built on libmicrohttpd in its
// external-event-loop mode on the libev loop of one thread,
// "HTTPD <ip>:<port>" (docs/httpd.md, decisions.md §35).
//
// mod_init (main thread) checks the settings, reads and checks the TLS
// files, binds the socket and starts the MHD daemon, so every mistake
// stops startup with the cfg's file:line. The HTTPD thread then watches the
// daemon's epoll descriptor with an ev_io and its timeout with an ev_timer;
// handlers run there, one request at a time. The root table is written only
// before the threads start and read-only afterwards (MI reads it too).
#include <arpa/inet.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ev.h>
#include <fstream>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "opensips/host.h"
#include "opensips/httpd.h"
#include "opensips/mem.h"
#include "opensips/mi.h"
#include "opensips/sr_module.h"

#include "server.h"

namespace {

// ---- modparams (OpenSIPS's names and defaults first, then ours) ----
char *listen_ip = (char *)"127.0.0.1";
int listen_port = 8888;
int conn_timeout = 30;          // s, idle connections
int buf_size = 0;               // largest reply body; 0: a quarter of -M
int post_buf_size = 1024;       // checked as OpenSIPS does (>= 256)
int receive_buf_size = 0;       // when set: the body limit (413 past it)
char *tls_cert_file = (char *)"";
char *tls_key_file = (char *)"";
char *tls_ciphers = (char *)"SECURE256:+SECURE192:-VERS-ALL:+VERS-TLS1.2";
char *auth_realm = (char *)"OpenSIPS MI";
char *auth_username = nullptr;
char *auth_password = nullptr;
int max_request_size = 65536;   // body bytes (413)
int max_header_size = 8192;     // request line + headers (431)
int request_timeout = 10;       // s: request line to reply sent
int keepalive_timeout = -1;     // s: older name of conn_timeout
int max_connections = 1024;

// ---- roots ----
std::vector<httpd::root_entry> g_roots;
bool g_started = false; // set when the HTTPD thread starts: roots frozen

// ---- runtime ----
httpd::server g_server;
std::string g_proc_name;
struct ev_loop *g_loop = nullptr;
ev_io g_ready;
ev_timer g_timer;

bool is_loopback_addr(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		auto *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

// "file:line: " of the modparam that set `param`, or "" when it is a default.
std::string at(const char *param)
{
	const char *w = shim_modparam_where("httpd", param);
	return w ? std::string(w) + ": " : std::string();
}

// ---- the HTTPD thread ----
void rearm()
{
	ev_timer_stop(g_loop, &g_timer);
	long ms = g_server.next_timeout_ms();
	if (ms >= 0) {
		ev_timer_set(&g_timer, (double)ms / 1000.0, 0.);
		ev_timer_start(g_loop, &g_timer);
	}
}

void on_ready(struct ev_loop *, ev_io *, int)
{
	g_server.run();
	rearm();
}

void on_timer(struct ev_loop *, ev_timer *, int)
{
	g_server.run();
	rearm();
}

void httpd_proc(int)
{
	g_loop = shim_thread_loop();
	g_started = true;
	if (!g_loop || g_server.epoll_fd() < 0) {
		LM_CRIT("HTTPD thread has no loop or server\n");
		return;
	}
	ev_io_init(&g_ready, on_ready, g_server.epoll_fd(), EV_READ);
	ev_io_start(g_loop, &g_ready);
	ev_init(&g_timer, on_timer);
	g_server.run(); // connections that queued while the threads started
	rearm();
}

proc_export_t procs[] = {
	{"HTTPD", nullptr, nullptr, httpd_proc, 1, PROC_FLAG_INITCHILD},
	{nullptr, nullptr, nullptr, nullptr, 0, 0},
};

// ---- the C API ----
int api_register_root(const char *root, const char *module,
                      httpd_handler_f handler, void *param)
{
	if (!root || !*root || !handler || strchr(root, '/') || strchr(root, '?')) {
		LM_ERR("bad HTTP root '%s'\n", root ? root : "(null)");
		return -1;
	}
	if (g_started) {
		LM_ERR("HTTP root '%s' registered after startup\n", root);
		return -1;
	}
	for (const httpd::root_entry &r : g_roots)
		if (r.root == root) {
			LM_ERR("HTTP root '%s' is already served by %s\n", root, r.module.c_str());
			return -1;
		}
	g_roots.push_back({root, module ? module : "", handler, param});
	return 0;
}

int api_set_body(struct httpd_reply *rpl, const char *data, int len)
{
	if (!rpl || len < 0)
		return -1;
	char *b = (char *)malloc((size_t)len + 1);
	if (!b)
		return -1;
	if (len)
		memcpy(b, data, (size_t)len);
	b[len] = 0;
	free(rpl->body);
	rpl->body = b;
	rpl->body_len = len;
	return 0;
}

int api_add_header(struct httpd_reply *rpl, const char *name, const char *value)
{
	if (!rpl || !name || !value || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return -1;
	size_t add = strlen(name) + strlen(value) + 4;
	size_t old = rpl->extra_headers ? (size_t)rpl->extra_headers_len : 0;
	char *h = (char *)realloc(rpl->extra_headers, old + add + 1);
	if (!h)
		return -1;
	snprintf(h + old, add + 1, "%s: %s\r\n", name, value);
	rpl->extra_headers = h;
	rpl->extra_headers_len = (int)(old + add);
	return 0;
}

const struct httpd_api g_api = {
	HTTPD_API_VERSION,
	api_register_root,
	api_set_body,
	api_add_header,
};

int mod_load(void)
{
	if (shim_register_api(HTTPD_API_NAME, &g_api) < 0) {
		LM_ERR("failed to publish the httpd API\n");
		return -1;
	}
	return 0;
}

bool read_pem(const char *param, const char *path, std::string &out)
{
	std::ifstream f(path, std::ios::binary);
	if (!f) {
		LM_ERR("%s%s '%s' cannot be read: %s\n", at(param).c_str(), param, path,
		       strerror(errno));
		return false;
	}
	std::ostringstream ss;
	ss << f.rdbuf();
	out = ss.str();
	if (out.empty()) {
		LM_ERR("%s%s '%s' is empty\n", at(param).c_str(), param, path);
		return false;
	}
	return true;
}

// Reads the TLS files and asks GnuTLS, which MHD uses, whether the pair and
// the priority string are usable, so startup can say what is wrong.
bool load_tls(httpd::config &cfg)
{
	bool have_cert = tls_cert_file && *tls_cert_file;
	bool have_key = tls_key_file && *tls_key_file;
	if (!have_cert && !have_key)
		return true;
	if (have_cert != have_key) {
		const char *set = have_cert ? "tls_cert_file" : "tls_key_file";
		LM_ERR("%s%s is set but %s is not: TLS needs both\n", at(set).c_str(), set,
		       have_cert ? "tls_key_file" : "tls_cert_file");
		return false;
	}
	if (!read_pem("tls_cert_file", tls_cert_file, cfg.tls_cert) ||
	    !read_pem("tls_key_file", tls_key_file, cfg.tls_key))
		return false;
	gnutls_certificate_credentials_t cred;
	if (gnutls_certificate_allocate_credentials(&cred) < 0) {
		LM_ERR("GnuTLS cannot allocate credentials\n");
		return false;
	}
	gnutls_datum_t c{(unsigned char *)cfg.tls_cert.data(), (unsigned)cfg.tls_cert.size()};
	gnutls_datum_t k{(unsigned char *)cfg.tls_key.data(), (unsigned)cfg.tls_key.size()};
	int rc = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (rc < 0) {
		std::string w = at("tls_key_file");
		if (w.empty())
			w = at("tls_cert_file");
		LM_ERR("%scertificate '%s' with key '%s': %s\n", w.c_str(), tls_cert_file,
		       tls_key_file, gnutls_strerror(rc));
		return false;
	}
	const char *prio = tls_ciphers && *tls_ciphers ? tls_ciphers : nullptr;
	if (prio) {
		gnutls_priority_t p;
		const char *err_pos = nullptr;
		rc = gnutls_priority_init(&p, prio, &err_pos);
		if (rc < 0) {
			LM_ERR("%stls_ciphers '%s' is not a GnuTLS priority string (%s, at '%s')\n",
			       at("tls_ciphers").c_str(), prio, gnutls_strerror(rc),
			       err_pos ? err_pos : "");
			return false;
		}
		gnutls_priority_deinit(p);
		cfg.tls_priorities = prio;
	}
	return true;
}

// Binds ip:port (an IP literal, "[v6]", or "*" for every address). -1 on error.
int bind_listener(bool &loopback)
{
	std::string host = listen_ip && *listen_ip ? listen_ip : "127.0.0.1";
	if (host.size() > 2 && host.front() == '[' && host.back() == ']')
		host = host.substr(1, host.size() - 2);
	struct sockaddr_storage ss {};
	socklen_t sl;
	if (host == "*") {
		auto *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_any;
		in6->sin6_port = htons((uint16_t)listen_port);
		sl = sizeof *in6;
	} else if (inet_pton(AF_INET, host.c_str(),
	                     &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		auto *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)listen_port);
		sl = sizeof *in;
	} else if (inet_pton(AF_INET6, host.c_str(),
	                     &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		auto *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)listen_port);
		sl = sizeof *in6;
	} else {
		LM_ERR("%sip '%s' is not an IP address (or \"*\")\n", at("ip").c_str(),
		       host.c_str());
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		LM_ERR("socket(): %s\n", strerror(errno));
		return -1;
	}
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (host == "*")
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
		LM_ERR("%scannot listen on %s:%d: %s\n", at("port").c_str(), host.c_str(),
		       listen_port, strerror(errno));
		close(fd);
		return -1;
	}
	loopback = is_loopback_addr((struct sockaddr *)&ss);
	return fd;
}

bool check_int(const char *name, int v, int min)
{
	if (v >= min)
		return true;
	LM_ERR("%s%s must be at least %d (got %d)\n", at(name).c_str(), name, min, v);
	return false;
}

// httpd:requests, httpd:replies/<class>, httpd:evicted, httpd:timed_out:
// computed from the server's own counters.
unsigned long st_counter(void *p) { return ((std::atomic<unsigned long> *)p)->load(); }

void register_stats()
{
	const httpd::counters &c = g_server.stats();
	auto *cc = const_cast<httpd::counters *>(&c);
	register_stat2("httpd", "requests", (stat_var **)(void *)st_counter,
	               STAT_IS_FUNC | STAT_COUNTER, &cc->requests, 0);
	register_stat2("httpd", "evicted", (stat_var **)(void *)st_counter,
	               STAT_IS_FUNC | STAT_COUNTER, &cc->evicted, 0);
	register_stat2("httpd", "timed_out", (stat_var **)(void *)st_counter,
	               STAT_IS_FUNC | STAT_COUNTER, &cc->timed_out, 0);
	static const char *const classes[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
	for (int k = 1; k <= 5; k++) {
		const char *ln[] = {"class"};
		const char *lv[] = {classes[k]};
		register_item_func_stat("httpd", "replies", "HTTP replies sent, per status class",
		                        STAT_COUNTER, 1, ln, lv, st_counter, &cc->replies[k]);
	}
}

int mod_init(void)
{
	if (listen_port < 1024 || listen_port > 65535) {
		LM_ERR("%sport %d: must be 1024 to 65535\n", at("port").c_str(), listen_port);
		return -1;
	}
	if (keepalive_timeout >= 0)
		conn_timeout = keepalive_timeout;
	if (!check_int("conn_timeout", conn_timeout, 0) ||
	    !check_int("post_buf_size", post_buf_size, 256) ||
	    !check_int("buf_size", buf_size, 0) ||
	    !check_int("receive_buf_size", receive_buf_size, 0) ||
	    !check_int("max_request_size", max_request_size, 0) ||
	    !check_int("max_header_size", max_header_size, 256) ||
	    !check_int("request_timeout", request_timeout, 0) ||
	    !check_int("max_connections", max_connections, 1))
		return -1;
	bool have_user = auth_username && *auth_username;
	bool have_pass = auth_password && *auth_password;
	if (have_user != have_pass) {
		const char *set = have_user ? "auth_username" : "auth_password";
		LM_ERR("%sauth_username and auth_password go together\n", at(set).c_str());
		return -1;
	}
	httpd::config cfg;
	cfg.conn_timeout = conn_timeout;
	cfg.request_timeout = request_timeout;
	cfg.max_body = (size_t)(receive_buf_size > 0 ? receive_buf_size : max_request_size);
	cfg.max_header = (size_t)max_header_size;
	cfg.max_connections = max_connections;
	cfg.max_reply = buf_size > 0 ? (size_t)buf_size : pkg_size() / 4;
	if (have_user) {
		cfg.auth_user = auth_username;
		cfg.auth_pass = auth_password;
	}
	cfg.auth_realm = auth_realm && *auth_realm ? auth_realm : "OpenSIPS MI";
	if (!load_tls(cfg))
		return -1;
	bool tls = !cfg.tls_cert.empty();

	bool loopback = false;
	int fd = bind_listener(loopback);
	if (fd < 0)
		return -1;
	if (!loopback && !have_user)
		LM_WARN("httpd listens on %s:%d, reachable beyond loopback, without "
		        "authentication: anyone who can reach it controls the server "
		        "through mi_http (set auth_username/auth_password)\n",
		        listen_ip, listen_port);
	std::string err;
	if (!g_server.start(cfg, fd, &g_roots, err)) {
		LM_ERR("%s%s\n", tls ? at("tls_cert_file").c_str() : "", err.c_str());
		return -1;
	}
	register_stats();
	g_proc_name = "HTTPD " + std::string(listen_ip && *listen_ip ? listen_ip : "127.0.0.1") +
	              ":" + std::to_string(listen_port);
	procs[0].name = g_proc_name.c_str();
	LM_DBG("httpd on %s (%s)\n", g_proc_name.c_str(), tls ? "TLS" : "plain HTTP");
	return 0;
}

void mod_destroy(void)
{
	// The HTTPD thread and its loop are gone: MHD closes what is left.
	g_loop = nullptr;
	g_server.stop();
}

// ---- MI ----
mi_response_t *mi_list_root_path(const mi_params_t *, struct mi_handler *)
{
	mi_item_t *arr;
	mi_response_t *resp = init_mi_result_array(&arr);
	if (!resp)
		return nullptr;
	for (const httpd::root_entry &r : g_roots) {
		mi_item_t *o = add_mi_object(arr, nullptr, 0);
		if (!o || add_mi_string(o, "http_root", 9, r.root.data(), (int)r.root.size()) < 0 ||
		    add_mi_string(o, "module", 6, r.module.data(), (int)r.module.size()) < 0) {
			free_mi_response(resp);
			return nullptr;
		}
	}
	return resp;
}

const mi_export_t mi_cmds[] = {
	{"list_root_path", "lists the HTTP roots and the modules serving them", 0,
	 nullptr, {{mi_list_root_path, {nullptr}}, {nullptr, {nullptr}}}, {nullptr}},
	{nullptr, nullptr, 0, nullptr, {{nullptr, {nullptr}}}, {nullptr}},
};

const param_export_t params[] = {
	{"ip", STR_PARAM, &listen_ip},
	{"port", INT_PARAM, &listen_port},
	{"conn_timeout", INT_PARAM, &conn_timeout},
	{"buf_size", INT_PARAM, &buf_size},
	{"post_buf_size", INT_PARAM, &post_buf_size},
	{"receive_buf_size", INT_PARAM, &receive_buf_size},
	{"tls_cert_file", STR_PARAM, &tls_cert_file},
	{"tls_key_file", STR_PARAM, &tls_key_file},
	{"tls_ciphers", STR_PARAM, &tls_ciphers},
	{"auth_realm", STR_PARAM, &auth_realm},
	{"auth_username", STR_PARAM, &auth_username},
	{"auth_password", STR_PARAM, &auth_password},
	{"max_request_size", INT_PARAM, &max_request_size},
	{"max_header_size", INT_PARAM, &max_header_size},
	{"request_timeout", INT_PARAM, &request_timeout},
	{"keepalive_timeout", INT_PARAM, &keepalive_timeout},
	{"max_connections", INT_PARAM, &max_connections},
	{nullptr, 0, nullptr},
};

} // namespace

extern "C" {

struct module_exports exports = {
	"httpd",          /* module name */
	MOD_TYPE_DEFAULT, /* class of this module */
	MODULE_VERSION,   /* version and ABI */
	DEFAULT_DLFLAGS,  /* dlopen flags */
	mod_load,         /* load function: publishes the httpd API */
	nullptr,          /* dependencies */
	nullptr,          /* script functions */
	nullptr,          /* async script functions */
	params,           /* modparams */
	nullptr,          /* statistics */
	mi_cmds,          /* MI commands: httpd:list_root_path */
	nullptr,          /* pseudo-variables */
	nullptr,          /* transformations */
	procs,            /* the "HTTPD <ip>:<port>" thread */
	nullptr,          /* pre-init */
	mod_init,         /* module init: checks, TLS files, socket, daemon */
	nullptr,          /* reply handler */
	mod_destroy,      /* destroy */
	nullptr,          /* per-thread init */
	nullptr,          /* reload ack */
};

} // extern "C"
