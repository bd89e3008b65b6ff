// httpd's server: one libmicrohttpd daemon in external-event-loop mode
// (MHD_USE_EPOLL, no thread of MHD's own), plus what MHD does not do for
// us: the root table and dispatch to handlers (include/opensips/httpd.h),
// basic auth, body limits, absolute per-request and per-idle deadlines, and
// eviction of the longest-idle connection when the table is full.
//
// The owner drives it from one thread: watch epoll_fd() for reading, call
// run() when it is readable and when the next_timeout_ms() timer fires.
// Nothing here blocks; MHD's own calls never wait (epoll_wait with 0).
//
// Without a listening socket (listen_fd < 0) connections are handed in with
// add_connection(): the unit tests and the fuzz target use socketpairs.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <list>
#include <string>
#include <vector>

#include "opensips/httpd.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace httpd {

struct root_entry {
	std::string root, module;
	httpd_handler_f handler;
	void *param;
};

struct config {
	int conn_timeout = 30;       // s: an idle connection is closed (0: never)
	int request_timeout = 10;    // s: request line to reply sent (0: never)
	size_t max_body = 65536;     // body bytes, Content-Length or chunked (413)
	size_t max_header = 8192;    // request line + headers (MHD answers 431)
	int max_connections = 1024;  // past it the longest-idle one is closed
	size_t max_reply = 0;        // reply body bytes (500 past it); 0: no cap
	std::string auth_user, auth_pass, auth_realm = "OpenSIPS MI";
	// PEM text; both set: the port speaks TLS only
	std::string tls_cert, tls_key, tls_priorities;
};

// Written by the server's thread only, read from anywhere (statistics).
struct counters {
	std::atomic<unsigned long> requests{0};
	std::atomic<unsigned long> replies[6] = {}; // by class, [1]..[5]
	std::atomic<unsigned long> evicted{0}, timed_out{0};
};

class server {
public:
	server() = default;
	server(const server &) = delete;
	server &operator=(const server &) = delete;
	~server() { stop(); }

	// Starts the daemon on listen_fd (taken over: closed by stop()), or with
	// no listening socket when listen_fd < 0. `roots` must outlive the
	// server. false with `err` set.
	bool start(const config &cfg, int listen_fd,
	           const std::vector<root_entry> *roots, std::string &err);
	void stop();

	int epoll_fd() const { return epoll_fd_; }
	// Processes ready sockets and expired deadlines.
	void run();
	// Milliseconds until run() must be called again without readiness.
	long next_timeout_ms() const;
	// Hands a connected socket to the daemon (taken over). 0 / -1.
	int add_connection(int fd, const struct sockaddr *sa, socklen_t len);

	size_t connections() const { return conns_.size(); }
	const counters &stats() const { return stats_; }

	// MHD's callbacks (public for the C trampolines in server.cc).
	struct conn_state;
	struct request_state;
	void *on_uri(const char *uri, struct MHD_Connection *c);
	int on_access(struct MHD_Connection *c, const char *method,
	              const char *upload, size_t *upload_size, void **con_cls);
	void on_completed(void **con_cls, int toe);
	void on_connection(struct MHD_Connection *c, void **socket_ctx, int started);

private:
	void sweep(double now);
	int answer(struct MHD_Connection *c, request_state *r, int status,
	           const char *ctype, char *body, size_t len, const char *extra,
	           size_t extra_len);
	int dispatch(struct MHD_Connection *c, request_state *r);
	bool auth_ok(struct MHD_Connection *c) const;

	config cfg_;
	const std::vector<root_entry> *roots_ = nullptr;
	struct MHD_Daemon *daemon_ = nullptr;
	int epoll_fd_ = -1;
	// every open connection, oldest activity first among the idle ones
	std::list<conn_state *> conns_;
	double last_sweep_ = 0;
	double now_ = 0; // monotonic seconds, read once per run() round
	bool turbo_ = false; // MHD_USE_TURBO (plain HTTP): we shut down writes on close
	counters stats_;
};

// Monotonic seconds.
double now_s();

} // namespace httpd
