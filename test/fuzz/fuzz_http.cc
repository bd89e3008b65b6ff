// Fuzz target: httpd's request handling through libmicrohttpd
// (modules/httpd/server.h). Each input is written, as a client would send
// it, into one end of a socketpair whose other end is handed to an MHD
// daemon running in our external-loop mode; the daemon is driven until the
// client side sees end of file. Two servers: default limits, and tiny ones
// (short headers, 16-byte bodies) so that the limit paths run too.
//
// Checks: whatever MHD and our routing answer starts with an HTTP/1.x
// status line; a handler only sees a path starting with '/', a body within
// the limit and a method; every connection is gone once the client has
// closed (no leaked state); the server answers a clean request afterwards.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "fuzz.h"
#include "modules/httpd/server.h"

namespace {

struct fuzz_server {
	httpd::server srv;
	std::vector<httpd::root_entry> roots;
	size_t max_body;
};

int echo(const struct httpd_request *req, struct httpd_reply *rpl, void *param)
{
	auto *fs = (fuzz_server *)param;
	FUZZ_CHECK(req->path_len > 0 && req->path[0] == '/', "path without '/'");
	FUZZ_CHECK(req->body_len >= 0 && (size_t)req->body_len <= fs->max_body,
	           "body of %d bytes past the limit %zu", req->body_len, fs->max_body);
	FUZZ_CHECK(req->method_len > 0, "no method");
	int len = 0;
	const char *ct = req->header(req, "Content-Type", &len);
	FUZZ_CHECK(!ct || (int)strlen(ct) == len, "header length");
	rpl->status = req->body_len % 2 ? 200 : 202;
	rpl->content_type = "application/json";
	rpl->body = (char *)malloc((size_t)req->body_len + 1);
	memcpy(rpl->body, req->body, (size_t)req->body_len);
	rpl->body_len = req->body_len;
	return req->query_len == 1 ? -1 : 0; // a failing handler now and then
}

fuzz_server *make(size_t max_header, size_t max_body)
{
	auto *fs = new fuzz_server;
	fs->max_body = max_body;
	fs->roots.push_back({"mi", "fuzz", echo, fs});
	fs->roots.push_back({"readyz", "fuzz", echo, fs});
	httpd::config cfg;
	cfg.max_header = max_header;
	cfg.max_body = max_body;
	cfg.max_connections = 4;
	cfg.request_timeout = 0;
	cfg.conn_timeout = 0;
	std::string err;
	FUZZ_CHECK(fs->srv.start(cfg, -1, &fs->roots, err), "start: %s", err.c_str());
	return fs;
}

// Sends `data` over a fresh connection and returns what came back.
std::string exchange(fuzz_server *fs, const uint8_t *data, size_t size)
{
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	struct sockaddr_in peer {};
	peer.sin_family = AF_INET;
	peer.sin_port = htons(40000);
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	FUZZ_CHECK(fs->srv.add_connection(sv[0], (struct sockaddr *)&peer, sizeof peer) == 0,
	           "add_connection");
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	size_t off = 0;
	std::string got;
	bool eof = false;
	for (int round = 0; round < 400 && !eof; round++) {
		if (off < size) {
			ssize_t n = write(sv[1], data + off, size - off);
			if (n > 0)
				off += (size_t)n;
			if (off == size)
				shutdown(sv[1], SHUT_WR);
		} else if (round == 0) {
			shutdown(sv[1], SHUT_WR);
		}
		fs->srv.run();
		char buf[8192];
		for (;;) {
			ssize_t n = read(sv[1], buf, sizeof buf);
			if (n > 0) {
				got.append(buf, (size_t)n);
				continue;
			}
			if (n == 0)
				eof = true;
			break;
		}
	}
	close(sv[1]);
	for (int round = 0; round < 20 && fs->srv.connections(); round++)
		fs->srv.run();
	FUZZ_CHECK(fs->srv.connections() == 0, "%zu connections left after close",
	           fs->srv.connections());
	return got;
}

void check_reply(const std::string &got)
{
	if (got.empty())
		return; // closed without a reply: allowed for garbage
	FUZZ_CHECK(got.compare(0, 7, "HTTP/1.") == 0 && got.size() >= 12,
	           "reply starts with '%.20s'", got.c_str());
}

} // namespace

FUZZ_TARGET(http)
{
	static fuzz_server *big = make(8192, 65536);
	static fuzz_server *tiny = make(512, 16);
	check_reply(exchange(big, data, size));
	check_reply(exchange(tiny, data, size));
	// still serving
	static const char ok[] = "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	std::string r = exchange(big, (const uint8_t *)ok, sizeof ok - 1);
	FUZZ_CHECK(r.compare(0, 12, "HTTP/1.1 202") == 0, "clean request after input: %.40s",
	           r.c_str());
	return 0;
}
