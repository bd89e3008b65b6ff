// httpd: a small HTTP/1.1 server on the libev loop of one thread,
// "HTTPD <ip>:<port>", serving the roots other modules register through
// include/opensips/httpd.h (mi_http, sr_http).
//
// Our own parser (http_parser.*) instead of libmicrohttpd: see
// docs/httpd.md. The listening socket is bound in mod_init on the main
// thread (a busy port fails startup); everything else (accepting, parsing,
// handlers, writing) happens on the HTTPD thread, so the connection table
// needs no lock. The root table is written only before the threads start
// and read-only afterwards (MI reads it from other threads).
#include <arpa/inet.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <ev.h>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <unordered_set>
#include <vector>

#include "opensips/host.h"
#include "opensips/httpd.h"
#include "opensips/mi.h"
#include "opensips/profiling.h"
#include "opensips/sr_module.h"

#include "http_parser.h"

namespace {

// ---- modparams ----
char *listen_ip = (char *)"127.0.0.1";
int listen_port = 8888;
char *auth_username = nullptr;
char *auth_password = nullptr;
int max_request_size = 65536;   // body bytes (413)
int max_header_size = 8192;     // request line + headers (431)
int request_timeout = 10;       // s: a started request must complete (408)
int keepalive_timeout = 30;     // s: idle keep-alive connections are closed
int max_connections = 256;

// ---- roots ----
struct root_entry {
	std::string root, module;
	httpd_handler_f handler;
	void *param;
};
std::vector<root_entry> g_roots;
bool g_started = false; // set when the HTTPD thread starts: roots frozen

// ---- runtime (HTTPD thread only, after start) ----
int g_listen_fd = -1;
std::string g_proc_name;
struct ev_loop *g_loop = nullptr;
ev_io g_accept_io;
ev_timer g_sweep;
httpd::limits g_lim;
const size_t OUT_HIGH = 256 * 1024; // stop reading while this much is queued

struct conn {
	int fd = -1;
	ev_io rio, wio;
	std::string in, out;
	size_t out_off = 0;
	ev_tstamp req_start = 0;   // first byte of the pending request, 0 if none
	ev_tstamp last_active = 0;
	bool closing = false;      // close once `out` is written
	bool peer_eof = false;
	bool continue_sent = false;
	bool reading = false;
	char ip[INET6_ADDRSTRLEN] = "";
	int port = 0;
};
std::unordered_set<conn *> g_conns;

// ---- helpers ----
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

const std::string &http_date()
{
	static thread_local time_t last = 0;
	static thread_local std::string text;
	time_t now = time(nullptr);
	if (now != last) {
		struct tm tm;
		gmtime_r(&now, &tm);
		char buf[64];
		strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		text = buf;
		last = now;
	}
	return text;
}

// Appends a whole response to c->out.
void queue_response(conn *c, int status, bool close_after, const char *ctype,
                    const char *body, size_t body_len, const char *extra,
                    size_t extra_len, bool head_only)
{
	std::string &o = c->out;
	o.reserve(o.size() + 160 + extra_len + body_len);
	o += "HTTP/1.1 ";
	o += std::to_string(status);
	o += ' ';
	o += httpd::reason_phrase(status);
	o += "\r\nDate: ";
	o += http_date();
	o += "\r\n";
	if (close_after)
		o += "Connection: close\r\n";
	if (extra && extra_len)
		o.append(extra, extra_len);
	if (ctype && *ctype) {
		o += "Content-Type: ";
		o += ctype;
		o += "\r\n";
	}
	if (status != 204 && status != 304 && status >= 200) {
		o += "Content-Length: ";
		o += std::to_string(body_len);
		o += "\r\n";
	}
	o += "\r\n";
	if (!head_only && body_len)
		o.append(body, body_len);
	if (close_after)
		c->closing = true;
}

void queue_error(conn *c, int status)
{
	static const char text[] = "text/plain; charset=utf-8";
	std::string body = std::string(httpd::reason_phrase(status)) + "\n";
	queue_response(c, status, true, text, body.data(), body.size(), nullptr, 0,
	               false);
}

void conn_close(conn *c)
{
	if (g_loop) {
		ev_io_stop(g_loop, &c->rio);
		ev_io_stop(g_loop, &c->wio);
	}
	if (c->fd >= 0)
		close(c->fd);
	g_conns.erase(c);
	delete c;
}

void start_reading(conn *c)
{
	if (!c->reading && !c->closing && !c->peer_eof) {
		ev_io_start(g_loop, &c->rio);
		c->reading = true;
	}
}

void stop_reading(conn *c)
{
	if (c->reading) {
		ev_io_stop(g_loop, &c->rio);
		c->reading = false;
	}
}

// Writes what it can; false when the connection was closed.
bool flush(conn *c)
{
	while (c->out_off < c->out.size()) {
		ssize_t n = send(c->fd, c->out.data() + c->out_off,
		                 c->out.size() - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_off += (size_t)n;
			c->last_active = ev_now(g_loop);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(g_loop, &c->wio);
			return true;
		}
		conn_close(c); // peer gone
		return false;
	}
	c->out.clear();
	c->out_off = 0;
	ev_io_stop(g_loop, &c->wio);
	if (c->closing || (c->peer_eof && c->in.empty())) {
		shutdown(c->fd, SHUT_WR);
		conn_close(c);
		return false;
	}
	return true;
}

// ---- request dispatch ----
const char *header_lookup(const struct httpd_request *r, const char *name, int *len)
{
	auto *req = (const httpd::request *)r->conn;
	const std::string_view *v = req->find(name);
	if (!v)
		return nullptr;
	if (len)
		*len = (int)v->size();
	return v->data();
}

bool auth_ok(const httpd::request &req)
{
	if (!auth_username || !*auth_username)
		return true;
	const std::string_view *v = req.find("Authorization");
	std::string user, pass;
	if (!v || !httpd::parse_basic_auth(*v, user, pass))
		return false;
	std::string want_u = auth_username, want_p = auth_password ? auth_password : "";
	// constant-time over the expected lengths
	unsigned diff = (user.size() != want_u.size()) | (pass.size() != want_p.size());
	for (size_t i = 0; i < want_u.size(); i++)
		diff |= (unsigned)(i < user.size() ? user[i] : 0) ^ (unsigned char)want_u[i];
	for (size_t i = 0; i < want_p.size(); i++)
		diff |= (unsigned)(i < pass.size() ? pass[i] : 0) ^ (unsigned char)want_p[i];
	return diff == 0;
}

const root_entry *find_root(std::string_view path)
{
	std::string_view seg = path.substr(1);
	size_t slash = seg.find('/');
	if (slash != std::string_view::npos)
		seg = seg.substr(0, slash);
	for (const root_entry &r : g_roots)
		if (seg == r.root)
			return &r;
	return nullptr;
}

void dispatch(conn *c, const httpd::request &req)
{
	bool close_after = !req.keep_alive || c->peer_eof;
	bool head = req.method == "HEAD";
	if (!auth_ok(req)) {
		static const char hdr[] = "WWW-Authenticate: Basic realm=\"OpenSIPS MI\"\r\n";
		static const char body[] = "Unauthorized\n";
		queue_response(c, 401, close_after, "text/plain; charset=utf-8", body,
		               sizeof body - 1, hdr, sizeof hdr - 1, head);
		return;
	}
	const root_entry *root = find_root(req.path);
	if (!root) {
		static const char body[] = "<html><body>Unable to parse URL!</body></html>";
		queue_response(c, 400, close_after, "text/html", body, sizeof body - 1,
		               nullptr, 0, head);
		return;
	}
	httpd_request r{};
	std::string_view method = head ? std::string_view("GET") : req.method;
	r.method = method.data();
	r.method_len = (int)method.size();
	r.path = req.path.data();
	r.path_len = (int)req.path.size();
	r.query = req.query.data();
	r.query_len = (int)req.query.size();
	r.body = req.body.data();
	r.body_len = (int)req.body.size();
	r.remote_ip = c->ip;
	r.remote_port = c->port;
	r.is_head = head;
	r.conn = (void *)&req;
	r.header = header_lookup;
	httpd_reply rpl{};
	rpl.status = 200;
	SHIM_PROF_START(SHIM_PROF_EXTRAPROCS, nullptr, 1);
	const char *pname = nullptr;
	if (shim_prof_session_level >= SHIM_PROF_EXTRAPROCS) {
		std::string n = "HTTPD_CB " + root->root;
		pname = shim_prof_intern(n.data(), (int)n.size());
	}
	if (pname) SHIM_PROF_ENTER(SHIM_PROF_EXTRAPROCS, pname, 0);
	int rc = root->handler(&r, &rpl, root->param);
	if (pname) SHIM_PROF_EXIT(SHIM_PROF_EXTRAPROCS, pname, rc);
	SHIM_PROF_END(SHIM_PROF_EXTRAPROCS, 0);
	if (rc < 0 || rpl.status < 200 || rpl.status > 599) {
		free(rpl.body);
		free(rpl.extra_headers);
		static const char body[] = "Internal Server Error\n";
		queue_response(c, 500, close_after, "text/plain; charset=utf-8", body,
		               sizeof body - 1, nullptr, 0, head);
		return;
	}
	queue_response(c, rpl.status, close_after, rpl.content_type, rpl.body,
	               rpl.body ? (size_t)rpl.body_len : 0, rpl.extra_headers,
	               rpl.extra_headers ? (size_t)rpl.extra_headers_len : 0, head);
	free(rpl.body);
	free(rpl.extra_headers);
}

// Parses and answers every complete request in c->in. false: closed.
bool process(conn *c)
{
	httpd::request req;
	size_t used = 0;
	while (!c->closing && used < c->in.size()) {
		if (c->out.size() - c->out_off > OUT_HIGH) {
			stop_reading(c); // resume when the client reads its replies
			break;
		}
		httpd::parse_result r = httpd::parse_request(c->in.data() + used,
		                                             c->in.size() - used, g_lim, req);
		if (r.state == httpd::parse_state::incomplete) {
			if (r.headers_done && req.expect_continue && !c->continue_sent) {
				c->out += "HTTP/1.1 100 Continue\r\n\r\n";
				c->continue_sent = true;
			}
			break;
		}
		if (r.state == httpd::parse_state::error) {
			LM_DBG("bad request from %s:%d: %s\n", c->ip, c->port, r.why);
			queue_error(c, r.status);
			used = c->in.size();
			break;
		}
		dispatch(c, req);
		used += req.consumed;
		c->continue_sent = false;
		c->req_start = 0;
	}
	if (used >= c->in.size())
		c->in.clear();
	else if (used)
		c->in.erase(0, used);
	// whatever is left is the start of a request: the clock runs
	if (!c->in.empty() && c->req_start == 0) {
		bool only_crlf = c->in.find_first_not_of("\r\n") == std::string::npos;
		if (!only_crlf)
			c->req_start = ev_now(g_loop);
	}
	if (c->peer_eof && !c->closing && c->out.size() == c->out_off)
		c->in.clear(); // a partial request that can never complete
	if (c->in.empty())
		c->req_start = 0;
	if (!c->closing && c->out.size() - c->out_off <= OUT_HIGH)
		start_reading(c);
	if (c->closing)
		stop_reading(c);
	if (c->out.size() > c->out_off || c->closing || c->peer_eof)
		return flush(c);
	return true;
}

void on_read(struct ev_loop *, ev_io *w, int)
{
	conn *c = (conn *)w->data;
	size_t cap = g_lim.max_head + g_lim.max_body + 4096;
	for (int i = 0; i < 16; i++) {
		if (c->in.size() >= cap) {
			stop_reading(c); // the parser refuses oversized input before this
			break;
		}
		char buf[16384];
		size_t want = std::min(sizeof buf, cap - c->in.size());
		ssize_t n = recv(c->fd, buf, want, MSG_DONTWAIT);
		if (n > 0) {
			c->in.append(buf, (size_t)n);
			c->last_active = ev_now(g_loop);
			if ((size_t)n < want)
				break;
			continue;
		}
		if (n == 0) {
			c->peer_eof = true;
			stop_reading(c);
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		conn_close(c);
		return;
	}
	process(c);
}

void on_write(struct ev_loop *, ev_io *w, int)
{
	conn *c = (conn *)w->data;
	if (!flush(c))
		return;
	if (!c->in.empty())
		process(c);
	else
		start_reading(c);
}

void on_accept(struct ev_loop *loop, ev_io *, int)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(g_listen_fd, (struct sockaddr *)&ss, &sl,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				LM_ERR("accept: %s: pausing new connections\n", strerror(errno));
				ev_io_stop(loop, &g_accept_io); // the sweep restarts it
			}
			return;
		}
		if ((int)g_conns.size() >= max_connections) {
			static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
			                           "Connection: close\r\nContent-Length: 0\r\n\r\n";
			ssize_t n = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)n;
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		conn *c = new conn;
		c->fd = fd;
		c->last_active = ev_now(loop);
		if (ss.ss_family == AF_INET) {
			auto *in = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &in->sin_addr, c->ip, sizeof c->ip);
			c->port = ntohs(in->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			auto *in6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &in6->sin6_addr, c->ip, sizeof c->ip);
			c->port = ntohs(in6->sin6_port);
		}
		ev_io_init(&c->rio, on_read, fd, EV_READ);
		ev_io_init(&c->wio, on_write, fd, EV_WRITE);
		c->rio.data = c->wio.data = c;
		g_conns.insert(c);
		start_reading(c);
	}
}

// Timeouts: a started request must complete within request_timeout (408),
// an idle keep-alive connection goes after keepalive_timeout, and a client
// that stops reading its replies goes after request_timeout.
void on_sweep(struct ev_loop *loop, ev_timer *, int)
{
	if (!ev_is_active(&g_accept_io) && (int)g_conns.size() < max_connections)
		ev_io_start(loop, &g_accept_io);
	ev_tstamp now = ev_now(loop);
	std::vector<conn *> all(g_conns.begin(), g_conns.end());
	for (conn *c : all) {
		bool pending_out = c->out.size() > c->out_off;
		if (pending_out) {
			if (now - c->last_active > request_timeout)
				conn_close(c);
			continue;
		}
		if (c->req_start > 0 && now - c->req_start >= request_timeout) {
			LM_DBG("request from %s:%d timed out\n", c->ip, c->port);
			c->in.clear();
			c->req_start = 0;
			queue_error(c, 408);
			stop_reading(c);
			flush(c);
			continue;
		}
		if (c->in.empty() && now - c->last_active >= keepalive_timeout)
			conn_close(c);
	}
}

void httpd_proc(int)
{
	g_loop = shim_thread_loop();
	g_started = true;
	if (!g_loop || g_listen_fd < 0) {
		LM_CRIT("HTTPD thread has no loop or socket\n");
		return;
	}
	ev_io_init(&g_accept_io, on_accept, g_listen_fd, EV_READ);
	ev_io_start(g_loop, &g_accept_io);
	double tick = request_timeout < 4 ? 0.1 : 0.5;
	ev_timer_init(&g_sweep, on_sweep, tick, tick);
	ev_timer_start(g_loop, &g_sweep);
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
	for (const root_entry &r : g_roots)
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

int mod_init(void)
{
	if (listen_port < 1 || listen_port > 65535) {
		LM_ERR("port %d out of range\n", listen_port);
		return -1;
	}
	if (max_request_size < 0 || max_header_size < 256 || request_timeout < 1 ||
	    keepalive_timeout < 1 || max_connections < 1) {
		LM_ERR("bad limits: max_request_size >= 0, max_header_size >= 256, "
		       "request_timeout >= 1, keepalive_timeout >= 1, max_connections >= 1\n");
		return -1;
	}
	if ((auth_username && *auth_username) != (auth_password && *auth_password)) {
		LM_ERR("auth_username and auth_password go together\n");
		return -1;
	}
	g_lim.max_body = (size_t)max_request_size;
	g_lim.max_head = (size_t)max_header_size;

	std::string host = listen_ip && *listen_ip ? listen_ip : "127.0.0.1";
	if (host.size() > 2 && host.front() == '[' && host.back() == ']')
		host = host.substr(1, host.size() - 2);
	struct addrinfo hints {}, *ai = nullptr;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	std::string port = std::to_string(listen_port);
	const char *h = (host == "*" || host == "0.0.0.0" || host.empty()) ? nullptr : host.c_str();
	if (host == "0.0.0.0")
		hints.ai_family = AF_INET;
	int rc = getaddrinfo(h, port.c_str(), &hints, &ai);
	if (rc != 0 || !ai) {
		LM_ERR("cannot resolve httpd ip '%s': %s\n", host.c_str(), gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		LM_ERR("socket(): %s\n", strerror(errno));
		freeaddrinfo(ai);
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		LM_ERR("cannot listen on %s:%d: %s\n", host.c_str(), listen_port, strerror(errno));
		close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	bool loopback = is_loopback_addr(ai->ai_addr);
	freeaddrinfo(ai);
	if (!loopback && !(auth_username && *auth_username))
		LM_WARN("httpd listens on %s:%d, reachable beyond loopback, without "
		        "authentication: anyone who can reach it controls the server "
		        "through mi_http (set auth_username/auth_password)\n",
		        host.c_str(), listen_port);
	g_listen_fd = fd;
	g_proc_name = "HTTPD " + std::string(listen_ip && *listen_ip ? listen_ip : "127.0.0.1") +
	              ":" + std::to_string(listen_port);
	procs[0].name = g_proc_name.c_str();
	if (g_roots.empty())
		LM_DBG("httpd has no root yet\n");
	return 0;
}

void mod_destroy(void)
{
	// The HTTPD thread has stopped and its loop is gone: close and free
	// without touching watchers.
	g_loop = nullptr;
	for (conn *c : std::vector<conn *>(g_conns.begin(), g_conns.end())) {
		if (c->fd >= 0)
			close(c->fd);
		delete c;
	}
	g_conns.clear();
	if (g_listen_fd >= 0) {
		close(g_listen_fd);
		g_listen_fd = -1;
	}
}

// ---- MI ----
mi_response_t *mi_list_root_path(const mi_params_t *, struct mi_handler *)
{
	mi_item_t *arr;
	mi_response_t *resp = init_mi_result_array(&arr);
	if (!resp)
		return nullptr;
	for (const root_entry &r : g_roots) {
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
	mod_init,         /* module init: binds the socket */
	nullptr,          /* reply handler */
	mod_destroy,      /* destroy */
	nullptr,          /* per-thread init */
	nullptr,          /* reload ack */
};

} // extern "C"
