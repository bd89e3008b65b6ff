// httpd's server on libmicrohttpd (server.h). Ownership: MHD owns the
// connections; we keep one conn_state per connection (MHD's socket
// context, created and freed by the connection notifier) and one
// request_state per request (created by the URI callback, which MHD runs
// as soon as the request line is in, freed by the completion notifier).
// Everything runs on the thread that calls run(); no lock.
#include "server.h"

#include <microhttpd.h>

#include <arpa/inet.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string_view>
#include <unistd.h>

#include "opensips/dprint.h"
#include "opensips/profiling.h"

namespace httpd {

double now_s()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct server::conn_state {
	int fd = -1;
	char ip[INET6_ADDRSTRLEN] = ""; // the peer, formatted once
	int port = 0;
	double last_done = 0;  // accept, or the end of the last request
	double req_start = 0;  // request line seen; 0 when idle
	bool doomed = false;   // shut down by us, MHD closes it next
	std::list<conn_state *>::iterator pos;
	// The request begun by on_uri and not completed yet. MHD reports a
	// request's completion only once it reached the access handler: one it
	// refused before (a bad header line) is freed here, by the next
	// request or when the connection closes.
	request_state *pending = nullptr;
	// The last completed request's state, kept for the next one on this
	// connection (its strings keep their buffers).
	request_state *spare = nullptr;
};

struct server::request_state {
	std::string uri;        // raw request target, query included
	std::string body;
	std::string method;
	conn_state *conn = nullptr;
	bool headers_seen = false;
	bool too_big = false;

	void reset()
	{
		uri.clear();
		method.clear();
		if (body.capacity() > 4096)
			std::string().swap(body);
		else
			body.clear();
		conn = nullptr;
		headers_seen = too_big = false;
	}
};

namespace {

const char k_text[] = "text/plain; charset=utf-8";

// ---- C trampolines ----
void *uri_cb(void *cls, const char *uri, struct MHD_Connection *c)
{
	return ((server *)cls)->on_uri(uri, c);
}

enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *,
                          const char *method, const char *, const char *upload,
                          size_t *upload_size, void **con_cls)
{
	int rc = ((server *)cls)->on_access(c, method, upload, upload_size, con_cls);
	return rc ? MHD_YES : MHD_NO;
}

void completed_cb(void *cls, struct MHD_Connection *, void **con_cls,
                  enum MHD_RequestTerminationCode toe)
{
	((server *)cls)->on_completed(con_cls, (int)toe);
}

void connection_cb(void *cls, struct MHD_Connection *c, void **socket_ctx,
                   enum MHD_ConnectionNotificationCode code)
{
	((server *)cls)->on_connection(c, socket_ctx, code == MHD_CONNECTION_NOTIFY_STARTED);
}

// MHD's complaints are about single clients (bad TLS records, resets):
// debug level, so a hostile client cannot flood the log.
void mhd_log(void *, const char *fmt, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof buf, fmt, ap);
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	LM_DBG("libmicrohttpd: %s\n", buf);
}

bool same_secret(const char *got, const std::string &want)
{
	// constant time over the expected length
	size_t glen = got ? strlen(got) : 0;
	unsigned diff = glen != want.size();
	for (size_t i = 0; i < want.size(); i++)
		diff |= (unsigned)(i < glen ? (unsigned char)got[i] : 0) ^
		        (unsigned char)want[i];
	return diff == 0;
}

const char *header_lookup(const struct httpd_request *r, const char *name, int *len)
{
	const char *v = MHD_lookup_connection_value((struct MHD_Connection *)r->conn,
	                                            MHD_HEADER_KIND, name);
	if (v && len)
		*len = (int)strlen(v);
	return v;
}

} // namespace

bool server::start(const config &cfg, int listen_fd,
                   const std::vector<root_entry> *roots, std::string &err)
{
	cfg_ = cfg;
	roots_ = roots;
	bool tls = !cfg_.tls_cert.empty() && !cfg_.tls_key.empty();
	// MHD_USE_TURBO on plain HTTP only: its optimistic reads break TLS
	// handshakes of new connections (ab over https: thousands of failures
	// in bench/sbs.py). On plain HTTP it reads and writes before asking
	// epoll, which halves the epoll_wait calls per request under
	// keep-alive (docs/internals/performance.md).
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (tls)
		flags |= MHD_USE_TLS;
	else
		flags |= MHD_USE_TURBO;
	turbo_ = !tls;
	if (listen_fd < 0)
		flags |= MHD_USE_NO_LISTEN_SOCKET;
	// MHD's pool per connection holds the read buffer (request line and
	// headers are parsed in place) and the reply's header block.
	size_t pool = cfg_.max_header + 4096;
	unsigned hard_limit = (unsigned)cfg_.max_connections * 2 + 16;
	struct MHD_OptionItem opts[16];
	int n = 0;
	auto opt = [&](enum MHD_OPTION o, intptr_t v, void *p) {
		opts[n].option = o;
		opts[n].value = v;
		opts[n].ptr_value = p;
		n++;
	};
	opt(MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)pool, nullptr);
	opt(MHD_OPTION_CONNECTION_LIMIT, (intptr_t)hard_limit, nullptr);
	opt(MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg_.conn_timeout, nullptr);
	opt(MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)(void *)uri_cb, this);
	opt(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)(void *)completed_cb, this);
	opt(MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)(void *)connection_cb, this);
	opt(MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)(void *)mhd_log, nullptr);
	if (listen_fd >= 0)
		opt(MHD_OPTION_LISTEN_SOCKET, listen_fd, nullptr);
	if (tls) {
		opt(MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg_.tls_key.c_str());
		opt(MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg_.tls_cert.c_str());
		if (!cfg_.tls_priorities.empty())
			opt(MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)cfg_.tls_priorities.c_str());
	}
	opt(MHD_OPTION_END, 0, nullptr);
	daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, access_cb, this,
	                           MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!daemon_) {
		err = tls ? "libmicrohttpd refused to start (TLS setup failed)"
		          : "libmicrohttpd refused to start";
		if (listen_fd >= 0)
			close(listen_fd);
		return false;
	}
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_EPOLL_FD);
	epoll_fd_ = info ? info->epoll_fd : -1;
	if (epoll_fd_ < 0) {
		err = "libmicrohttpd has no epoll descriptor";
		stop();
		return false;
	}
	now_ = last_sweep_ = now_s();
	return true;
}

void server::stop()
{
	if (daemon_) {
		MHD_stop_daemon(daemon_); // closes every connection: notifiers run
		daemon_ = nullptr;
	}
	for (conn_state *c : conns_)
		delete c;
	conns_.clear();
	epoll_fd_ = -1;
}

void server::run()
{
	if (!daemon_)
		return;
	// one clock reading per round: the callbacks below stamp with it
	now_ = now_s();
	MHD_run(daemon_);
	if (now_ - last_sweep_ >= 0.1) {
		last_sweep_ = now_;
		sweep(now_);
	}
}

long server::next_timeout_ms() const
{
	if (!daemon_)
		return -1;
	MHD_UNSIGNED_LONG_LONG t = 0;
	long ms = -1;
	if (MHD_get_timeout(daemon_, &t) == MHD_YES)
		ms = t > 3600000ULL ? 3600000L : (long)t;
	// deadlines are ours: look again soon while any connection is open
	if (!conns_.empty() && (ms < 0 || ms > 100))
		ms = 100;
	return ms;
}

int server::add_connection(int fd, const struct sockaddr *sa, socklen_t len)
{
	now_ = now_s();
	if (!daemon_ || MHD_add_connection(daemon_, fd, sa, len) != MHD_YES)
		return -1;
	return 0;
}

// ---- deadlines and eviction ----
static void doom(server::conn_state *c)
{
	if (!c->doomed) {
		c->doomed = true;
		shutdown(c->fd, SHUT_RDWR); // MHD sees the hang-up and closes it
	}
}

void server::sweep(double now)
{
	for (conn_state *c : conns_) {
		if (c->doomed)
			continue;
		if (c->req_start > 0) {
			if (cfg_.request_timeout > 0 && now - c->req_start >= cfg_.request_timeout) {
				stats_.timed_out.fetch_add(1, std::memory_order_relaxed);
				doom(c);
			}
		} else if (cfg_.conn_timeout > 0 && now - c->last_done >= cfg_.conn_timeout) {
			doom(c);
		}
	}
}

void server::on_connection(struct MHD_Connection *c, void **socket_ctx, int started)
{
	if (!started) {
		auto *cs = (conn_state *)*socket_ctx;
		if (cs) {
			// MHD closes the socket right after this. Under MHD_USE_TURBO
			// it skips its own shutdown(SHUT_WR), so a reply sent before
			// the request was read in full (413, 401) would be followed by
			// a reset instead of a FIN: send the FIN first, as MHD does
			// without TURBO.
			if (turbo_ && cs->fd >= 0 && !cs->doomed)
				shutdown(cs->fd, SHUT_WR);
			conns_.erase(cs->pos);
			delete cs->pending;
			delete cs->spare;
			delete cs;
			*socket_ctx = nullptr;
		}
		return;
	}
	auto *cs = new conn_state;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	cs->fd = ci ? ci->connect_fd : -1;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET) {
			auto *in = (const struct sockaddr_in *)sa;
			inet_ntop(AF_INET, &in->sin_addr, cs->ip, sizeof cs->ip);
			cs->port = ntohs(in->sin_port);
		} else if (sa->sa_family == AF_INET6) {
			auto *in6 = (const struct sockaddr_in6 *)sa;
			inet_ntop(AF_INET6, &in6->sin6_addr, cs->ip, sizeof cs->ip);
			cs->port = ntohs(in6->sin6_port);
		}
	}
	cs->last_done = now_;
	// idle connections sit at the front, least recently used first
	cs->pos = conns_.insert(conns_.end(), cs);
	*socket_ctx = cs;
	if ((int)conns_.size() <= cfg_.max_connections)
		return;
	for (conn_state *v : conns_) {
		if (v != cs && !v->doomed && v->req_start == 0) {
			stats_.evicted.fetch_add(1, std::memory_order_relaxed);
			doom(v);
			return;
		}
	}
	doom(cs); // every other connection is busy: refuse the newcomer
}

// ---- requests ----
void *server::on_uri(const char *uri, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	auto *cs = ci ? (conn_state *)ci->socket_context : nullptr;
	request_state *r;
	if (cs && cs->spare) {
		r = cs->spare;
		cs->spare = nullptr;
	} else {
		r = new request_state;
	}
	r->uri = uri ? uri : "";
	r->conn = cs;
	if (r->conn) {
		r->conn->req_start = now_;
		delete r->conn->pending; // never handed to us: MHD dropped it
		r->conn->pending = r;
	}
	return r;
}

void server::on_completed(void **con_cls, int)
{
	auto *r = (request_state *)*con_cls;
	if (!r)
		return;
	*con_cls = nullptr;
	if (conn_state *cs = r->conn) {
		if (cs->pending == r)
			cs->pending = nullptr;
		cs->req_start = 0;
		cs->last_done = now_;
		conns_.splice(conns_.end(), conns_, cs->pos);
		if (!cs->spare) {
			r->reset();
			cs->spare = r;
			return;
		}
	}
	delete r;
}

bool server::auth_ok(struct MHD_Connection *c) const
{
	if (cfg_.auth_user.empty())
		return true;
	char *pass = nullptr;
	char *user = MHD_basic_auth_get_username_password(c, &pass);
	// both compared, whichever differs (no early exit)
	bool ok = user && pass &&
	          ((int)same_secret(user, cfg_.auth_user) & (int)same_secret(pass, cfg_.auth_pass));
	if (user)
		MHD_free(user);
	if (pass)
		MHD_free(pass);
	return ok;
}

// Queues one reply. `body` is malloc()ed and owned by the reply from here
// on (NULL for none); `extra` is a block of "Name: value\r\n" lines.
int server::answer(struct MHD_Connection *c, request_state *, int status,
                   const char *ctype, char *body, size_t len, const char *extra,
                   size_t extra_len)
{
	struct MHD_Response *resp =
	    body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
	         : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(body);
		return 0;
	}
	if (ctype && *ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	std::string_view rest(extra ? extra : "", extra ? extra_len : 0);
	while (!rest.empty()) {
		size_t eol = rest.find("\r\n");
		std::string_view line = rest.substr(0, eol);
		rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
		size_t colon = line.find(':');
		if (colon == std::string_view::npos)
			continue;
		std::string name(line.substr(0, colon));
		std::string_view v = line.substr(colon + 1);
		while (!v.empty() && v.front() == ' ')
			v.remove_prefix(1);
		MHD_add_response_header(resp, name.c_str(), std::string(v).c_str());
	}
	enum MHD_Result rc;
	if (status == 401) {
		rc = MHD_queue_basic_auth_fail_response(c, cfg_.auth_realm.c_str(), resp);
	} else {
		rc = MHD_queue_response(c, (unsigned)status, resp);
	}
	MHD_destroy_response(resp);
	if (status >= 100 && status < 600)
		stats_.replies[status / 100].fetch_add(1, std::memory_order_relaxed);
	return rc == MHD_YES;
}

static char *dup_text(const char *s, size_t *len)
{
	*len = strlen(s);
	char *b = (char *)malloc(*len + 1);
	if (b)
		memcpy(b, s, *len + 1);
	return b;
}

int server::on_access(struct MHD_Connection *c, const char *method,
                      const char *upload, size_t *upload_size, void **con_cls)
{
	auto *r = (request_state *)*con_cls;
	if (!r)
		return 0; // no URI callback ran: cannot happen with our options
	size_t len = 0;
	if (!r->headers_seen) {
		r->headers_seen = true;
		r->method = method ? method : "";
		stats_.requests.fetch_add(1, std::memory_order_relaxed);
		if (!auth_ok(c)) {
			char *b = dup_text("Unauthorized\n", &len);
			return answer(c, r, 401, k_text, b, len, nullptr, 0);
		}
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, nullptr, 10) > cfg_.max_body) {
			char *b = dup_text("Payload Too Large\n", &len);
			return answer(c, r, 413, k_text, b, len, nullptr, 0);
		}
		return 1; // MHD sends "100 Continue" itself when asked for
	}
	if (*upload_size) {
		// chunked bodies have no announced size: stop keeping them past the
		// limit and answer 413 once the body has ended
		if (!r->too_big && r->body.size() + *upload_size <= cfg_.max_body)
			r->body.append(upload, *upload_size);
		else
			r->too_big = true;
		*upload_size = 0;
		return 1;
	}
	if (r->too_big) {
		char *b = dup_text("Payload Too Large\n", &len);
		return answer(c, r, 413, k_text, b, len, nullptr, 0);
	}
	return dispatch(c, r);
}

int server::dispatch(struct MHD_Connection *c, request_state *r)
{
	std::string_view target = r->uri;
	size_t q = target.find('?');
	std::string_view path = target.substr(0, q);
	std::string_view query = q == std::string_view::npos ? std::string_view()
	                                                     : target.substr(q + 1);
	const root_entry *root = nullptr;
	if (!path.empty() && path.front() == '/' && roots_) {
		std::string_view seg = path.substr(1);
		seg = seg.substr(0, seg.find('/'));
		for (const root_entry &e : *roots_)
			if (seg == e.root) {
				root = &e;
				break;
			}
	}
	size_t len = 0;
	if (!root) {
		char *b = dup_text("<html><body>Unable to parse URL!</body></html>", &len);
		return answer(c, r, 400, "text/html", b, len, nullptr, 0);
	}
	bool head = r->method == "HEAD";
	std::string_view method = head ? std::string_view("GET") : std::string_view(r->method);
	httpd_request req{};
	req.method = method.data();
	req.method_len = (int)method.size();
	req.path = path.data();
	req.path_len = (int)path.size();
	req.query = query.data();
	req.query_len = (int)query.size();
	req.body = r->body.data();
	req.body_len = (int)r->body.size();
	req.remote_ip = r->conn ? r->conn->ip : "";
	req.remote_port = r->conn ? r->conn->port : 0;
	req.is_head = head;
	req.conn = c;
	req.header = header_lookup;
	httpd_reply rpl{};
	rpl.status = 200;

	SHIM_PROF_START(SHIM_PROF_EXTRAPROCS, nullptr, 1);
	const char *pname = nullptr;
	if (shim_prof_session_level >= SHIM_PROF_EXTRAPROCS) {
		std::string nm = "HTTPD_CB " + root->root;
		pname = shim_prof_intern(nm.data(), (int)nm.size());
	}
	if (pname) SHIM_PROF_ENTER(SHIM_PROF_EXTRAPROCS, pname, 0);
	int rc = root->handler(&req, &rpl, root->param);
	if (pname) SHIM_PROF_EXIT(SHIM_PROF_EXTRAPROCS, pname, rc);
	SHIM_PROF_END(SHIM_PROF_EXTRAPROCS, 0);

	size_t body_len = rpl.body ? (size_t)rpl.body_len : 0;
	if (rc >= 0 && cfg_.max_reply && body_len > cfg_.max_reply) {
		LM_ERR("reply of %zu bytes to %.*s exceeds buf_size (%zu)\n", body_len,
		       (int)path.size(), path.data(), cfg_.max_reply);
		rc = -1;
	}
	if (rc < 0 || rpl.status < 200 || rpl.status > 599) {
		free(rpl.body);
		free(rpl.extra_headers);
		char *b = dup_text("Internal Server Error\n", &len);
		return answer(c, r, 500, k_text, b, len, nullptr, 0);
	}
	int ok = answer(c, r, rpl.status, rpl.content_type, rpl.body, body_len,
	                rpl.extra_headers,
	                rpl.extra_headers ? (size_t)rpl.extra_headers_len : 0);
	free(rpl.extra_headers);
	return ok;
}

} // namespace httpd
