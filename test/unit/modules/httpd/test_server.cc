// httpd's server (modules/httpd/server.h) driven through socketpairs:
// routing by root, the raw path and query a handler sees, HEAD, basic auth,
// body limits (Content-Length and chunked), 500 for a failing handler or a
// reply past buf_size, pipelining, eviction of the longest-idle connection
// when the table is full, and the request deadline.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "../../../../modules/httpd/server.h"

#include "../../cmocka_cxx.h" // last

namespace {

struct seen {
	std::string method, path, query, body, auth;
	int calls = 0;
	int is_head = -1;
};

int record(const struct httpd_request *req, struct httpd_reply *rpl, void *param)
{
	auto *s = (seen *)param;
	s->calls++;
	s->method.assign(req->method, (size_t)req->method_len);
	s->path.assign(req->path, (size_t)req->path_len);
	s->query.assign(req->query ? req->query : "", (size_t)req->query_len);
	s->body.assign(req->body ? req->body : "", (size_t)req->body_len);
	s->is_head = req->is_head;
	if (s->path == "/app/fail")
		return -1;
	std::string text = s->path == "/app/big" ? std::string(5000, 'x') : "hello " + s->path;
	rpl->status = 200;
	rpl->content_type = "text/plain";
	rpl->body = strdup(text.c_str());
	rpl->body_len = (int)text.size();
	rpl->extra_headers = strdup("X-Seen: yes\r\n");
	rpl->extra_headers_len = (int)strlen(rpl->extra_headers);
	return 0;
}

struct fixture {
	seen s;
	std::vector<httpd::root_entry> roots;
	httpd::server srv;

	explicit fixture(httpd::config cfg = httpd::config())
	{
		roots.push_back({"app", "test", record, &s});
		if (!cfg.max_reply)
			cfg.max_reply = 4096;
		std::string err;
		assert_true(srv.start(cfg, -1, &roots, err));
	}

	// A client end connected to the server.
	int connect_client()
	{
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		struct sockaddr_in peer {};
		peer.sin_family = AF_INET;
		peer.sin_port = htons(5555);
		peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(srv.add_connection(sv[0], (struct sockaddr *)&peer, sizeof peer), 0);
		fcntl(sv[1], F_SETFL, O_NONBLOCK);
		return sv[1];
	}

	// Writes `req`, runs the server until `replies` status lines arrived or
	// the connection ended.
	std::string talk(int fd, const std::string &req, int replies = 1)
	{
		if (!req.empty())
			assert_int_equal(write(fd, req.data(), req.size()), (ssize_t)req.size());
		std::string got;
		for (int i = 0; i < 500; i++) {
			srv.run();
			char buf[65536];
			ssize_t n = read(fd, buf, sizeof buf);
			if (n > 0)
				got.append(buf, (size_t)n);
			if (n == 0)
				break;
			size_t count = 0;
			for (size_t p = got.find("HTTP/1.1 "); p != std::string::npos;
			     p = got.find("HTTP/1.1 ", p + 1))
				count++;
			if ((int)count >= replies && got.find("\r\n\r\n") != std::string::npos &&
			    (got.find("Content-Length") == std::string::npos || n <= 0))
				break;
		}
		return got;
	}

	std::string once(const std::string &req)
	{
		int fd = connect_client();
		std::string r = talk(fd, req);
		close(fd);
		for (int i = 0; i < 10; i++)
			srv.run();
		return r;
	}
};

bool starts(const std::string &s, const char *p) { return s.compare(0, strlen(p), p) == 0; }

void test_routing(void **)
{
	fixture f;
	std::string r = f.once("GET /app/x%2Fy?verbose&exclude=a%20b HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_true(starts(r, "HTTP/1.1 200 OK\r\n"));
	assert_true(r.find("X-Seen: yes\r\n") != std::string::npos);
	assert_true(r.find("Content-Type: text/plain\r\n") != std::string::npos);
	assert_true(r.find("hello /app/x%2Fy") != std::string::npos);
	assert_string_equal(f.s.path.c_str(), "/app/x%2Fy"); // raw, not decoded
	assert_string_equal(f.s.query.c_str(), "verbose&exclude=a%20b");
	assert_string_equal(f.s.method.c_str(), "GET");
	r = f.once("GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_true(starts(r, "HTTP/1.1 400 Bad Request\r\n"));
	assert_true(r.find("Unable to parse URL!") != std::string::npos);
	r = f.once("GET /application HTTP/1.1\r\nHost: h\r\n\r\n"); // not the root "app"
	assert_true(starts(r, "HTTP/1.1 400"));
	assert_int_equal(f.s.calls, 1);
}

void test_head_and_body(void **)
{
	fixture f;
	std::string r = f.once("HEAD /app HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_true(starts(r, "HTTP/1.1 200"));
	assert_true(r.find("Content-Length: 10\r\n") != std::string::npos);
	assert_true(r.find("hello") == std::string::npos);
	assert_string_equal(f.s.method.c_str(), "GET");
	assert_int_equal(f.s.is_head, 1);
	r = f.once("POST /app HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde");
	assert_true(starts(r, "HTTP/1.1 200"));
	assert_string_equal(f.s.body.c_str(), "abcde");
	r = f.once("POST /app HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	           "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
	assert_true(starts(r, "HTTP/1.1 200"));
	assert_string_equal(f.s.body.c_str(), "abcde");
}

void test_limits(void **)
{
	httpd::config cfg;
	cfg.max_body = 8;
	fixture f(cfg);
	std::string r = f.once("POST /app HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\n123456789");
	assert_true(starts(r, "HTTP/1.1 413"));
	r = f.once("POST /app HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	           "5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n");
	assert_true(starts(r, "HTTP/1.1 413"));
	assert_int_equal(f.s.calls, 0);
	r = f.once("GET /app/fail HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_true(starts(r, "HTTP/1.1 500"));
	r = f.once("GET /app/big HTTP/1.1\r\nHost: h\r\n\r\n"); // 5000 > buf_size 4096
	assert_true(starts(r, "HTTP/1.1 500"));
	std::string big = "GET /app HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(20000, 'a') +
	                  "\r\n\r\n";
	r = f.once(big);
	assert_true(starts(r, "HTTP/1.1 431"));
	assert_int_equal(f.srv.stats().replies[5], 2);
}

void test_auth(void **)
{
	httpd::config cfg;
	cfg.auth_user = "admin";
	cfg.auth_pass = "s3cret";
	cfg.auth_realm = "Test Realm";
	fixture f(cfg);
	std::string r = f.once("GET /app HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_true(starts(r, "HTTP/1.1 401"));
	assert_true(r.find("WWW-Authenticate: Basic realm=\"Test Realm\"") != std::string::npos);
	// admin:nope, admin:s3cret, admi:s3cret
	r = f.once("GET /app HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YWRtaW46bm9wZQ==\r\n\r\n");
	assert_true(starts(r, "HTTP/1.1 401"));
	r = f.once("GET /app HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YWRtaTpzM2NyZXQ=\r\n\r\n");
	assert_true(starts(r, "HTTP/1.1 401"));
	assert_int_equal(f.s.calls, 0);
	r = f.once("GET /app HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YWRtaW46czNjcmV0\r\n\r\n");
	assert_true(starts(r, "HTTP/1.1 200"));
}

void test_pipelining_keepalive(void **)
{
	fixture f;
	int fd = f.connect_client();
	std::string one = "GET /app/a HTTP/1.1\r\nHost: h\r\n\r\n";
	std::string r = f.talk(fd, one + one + one, 3);
	size_t n = 0;
	for (size_t p = r.find("HTTP/1.1 200"); p != std::string::npos; p = r.find("HTTP/1.1 200", p + 1))
		n++;
	assert_int_equal(n, 3);
	assert_true(r.find("Connection: close") == std::string::npos);
	// HTTP/1.0 keep-alive is answered as such and the connection stays
	r = f.talk(fd, "GET /app/b HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	assert_true(r.find("Connection: Keep-Alive") != std::string::npos);
	r = f.talk(fd, one);
	assert_true(starts(r, "HTTP/1.1 200"));
	close(fd);
	for (int i = 0; i < 10; i++)
		f.srv.run();
	assert_int_equal(f.srv.connections(), 0);
}

void test_eviction(void **)
{
	httpd::config cfg;
	cfg.max_connections = 3;
	fixture f(cfg);
	int idle[3];
	for (int &fd : idle)
		fd = f.connect_client();
	f.srv.run();
	// a fourth: the longest-idle one goes, the newcomer is served
	int fd = f.connect_client();
	std::string r = f.talk(fd, "GET /app HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_true(starts(r, "HTTP/1.1 200"));
	char c;
	for (int i = 0; i < 10; i++)
		f.srv.run();
	assert_int_equal(read(idle[0], &c, 1), 0); // closed by the server
	assert_int_equal(f.srv.stats().evicted, 1);
	for (int x : idle)
		close(x);
	close(fd);
}

void test_request_deadline(void **)
{
	httpd::config cfg;
	cfg.request_timeout = 1;
	fixture f(cfg);
	int fd = f.connect_client();
	std::string part = "GET /app HTTP/1.1\r\nHost: h\r\n";
	assert_int_equal(write(fd, part.data(), part.size()), (ssize_t)part.size());
	double t0 = httpd::now_s();
	bool closed = false;
	while (httpd::now_s() - t0 < 3 && !closed) {
		f.srv.run();
		char c;
		ssize_t n = read(fd, &c, 1);
		closed = n == 0;
		usleep(20000);
		// keep trickling: inactivity alone would never end it
		if (!closed && write(fd, "X: 1\r\n", 6) < 0)
			closed = true;
	}
	double dt = httpd::now_s() - t0;
	assert_true(closed);
	assert_true(dt >= 0.9 && dt < 2.5);
	assert_int_equal(f.srv.stats().timed_out, 1);
	close(fd);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routing),
		cmocka_unit_test(test_head_and_body),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_pipelining_keepalive),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_request_deadline),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
