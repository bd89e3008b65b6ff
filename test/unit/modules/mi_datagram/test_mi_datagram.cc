// mi_datagram end to end: mod_init + the "MI Datagram" proc function on a
// libev loop driven here, clients on real UDP and unix datagram sockets.
#include <arpa/inet.h>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <ev.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mi/mi_core.h"
#include "net/resolve.h"
#include "opensips/statistics.h"
#include "opensips/host.h"
#include "opensips/sr_module.h"
#include "proc/roster.h"

#include "../../cmocka_cxx.h" // last

extern "C" struct module_exports exports;

namespace {

std::string g_dir;
struct ev_loop *g_loop;

const param_export_t *find_param(const char *name)
{
	for (const param_export_t *p = exports.params; p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	fail_msg("no param %s", name);
	return nullptr;
}

std::deque<std::string> g_strings; // keeps modparam strings reachable

void set_str(const char *name, const char *v)
{
	char *p = nullptr;
	if (v)
		p = g_strings.emplace_back(v).data();
	*(char **)find_param(name)->param_pointer = p;
}

void set_int(const char *name, int v)
{
	const param_export_t *p = find_param(name);
	if (p->type & USE_FUNC_PARAM)
		assert_int_equal(((param_func_t)p->param_pointer)(INT_PARAM, (void *)(long)v), 0);
	else
		*(int *)p->param_pointer = v;
}

int free_udp_port()
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a {};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(s, (struct sockaddr *)&a, sizeof a);
	socklen_t l = sizeof a;
	getsockname(s, (struct sockaddr *)&a, &l);
	close(s);
	return ntohs(a.sin_port);
}

int setup(void **)
{
	char tmpl[] = "/tmp/mi_dgram_test.XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	g_dir = tmpl;
	shim::mi_reset();
	shim::mi_register_core_commands();
	shim::roster_reset();
	int id = shim::roster_add("MI Datagram", shim::PROC_TYPE_NONE);
	g_loop = ev_loop_new(EVFLAG_AUTO);
	shim::roster_get(id)->loop = g_loop;
	shim::roster_bind_self(id);
	return 0;
}

int teardown(void **)
{
	ev_loop_destroy(g_loop);
	std::string cmd = "rm -rf " + g_dir;
	return system(cmd.c_str()) == 0 ? 0 : -1;
}

// Sends `req` from `fd` to `to` and pumps the loop until a reply comes
// or `wait_ms` passes. Returns the reply, or "<none>".
std::string exchange(int fd, const struct sockaddr *to, socklen_t tolen, const std::string &req,
                     int wait_ms = 1000)
{
	assert_true(sendto(fd, req.data(), req.size(), 0, to, tolen) == (ssize_t)req.size());
	char buf[70000];
	for (int i = 0; i < wait_ms; i++) {
		ev_run(g_loop, EVRUN_NOWAIT);
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n >= 0)
			return std::string(buf, (size_t)n);
		usleep(1000);
	}
	return "<none>";
}

void test_missing_socket_name(void **)
{
	set_str("socket_name", nullptr);
	assert_true(exports.init_f() < 0);
}

void test_bad_ports(void **)
{
	// the host's parser (opensips/net.h): port 1024..65535, a bracketed
	// IPv6 literal, a unix path that fits sun_path
	const std::string bad[] = {"udp:127.0.0.1:80", "udp:127.0.0.1:70000", "udp:127.0.0.1:",
	                           "udp:127.0.0.1:x1", "udp:127.0.0.1", "udp:[::1:9000",
	                           "udp:[localhost]:9000", "udp:300.1.1.1:9000", "udp:",
	                           "/tmp/" + std::string(120, 'x')};
	for (const std::string &b : bad) {
		set_str("socket_name", b.c_str());
		if (exports.init_f() >= 0)
			fail_msg("accepted socket_name %s", b.c_str());
	}
}

// One `version` request over a fresh socket_name; the reply's id.
std::string version_over(const std::string &name, int family, int port)
{
	ev_loop_destroy(g_loop);
	g_loop = ev_loop_new(EVFLAG_AUTO);
	shim::roster_get(0)->loop = g_loop;
	set_str("socket_name", name.c_str());
	assert_int_equal(exports.init_f(), 0);
	exports.procs[0].function(1);
	int c = socket(family, SOCK_DGRAM, 0);
	struct sockaddr_storage to {};
	socklen_t tolen;
	if (family == AF_INET6) {
		auto *a = (struct sockaddr_in6 *)&to;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		a->sin6_addr = in6addr_loopback;
		tolen = sizeof *a;
	} else {
		auto *a = (struct sockaddr_in *)&to;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		tolen = sizeof *a;
	}
	std::string r = exchange(c, (const struct sockaddr *)&to, tolen,
	                         "{\"jsonrpc\":\"2.0\",\"method\":\"uptime\",\"id\":7}");
	close(c);
	exports.destroy_f();
	const char *id = strstr(r.c_str(), "\"id\":");
	return id ? id : r;
}

void test_udp_names_ipv6_any(void **)
{
	assert_int_equal(shim::dns_stats_register(), 0);
	stat_var *total = get_stat("dns:dns_total_queries");
	assert_non_null(total);
	unsigned long before = get_stat_val(total);
	int port = free_udp_port();
	// a name goes through the host's measured resolver: one query counted
	assert_string_equal(version_over("udp:localhost:" + std::to_string(port), AF_INET, port).c_str(),
	                    "\"id\":7}");
	assert_int_equal(get_stat_val(total), before + 1);
	// literals and "*" are not looked up
	assert_string_equal(version_over("udp:[::1]:" + std::to_string(port), AF_INET6, port).c_str(),
	                    "\"id\":7}");
	assert_string_equal(version_over("udp:::1:" + std::to_string(port), AF_INET6, port).c_str(),
	                    "\"id\":7}");
	assert_string_equal(version_over("UDP:*:" + std::to_string(port), AF_INET, port).c_str(),
	                    "\"id\":7}");
	assert_int_equal(get_stat_val(total), before + 1);
}

void test_udp(void **)
{
	int port = free_udp_port();
	std::string name = "udp:127.0.0.1:" + std::to_string(port);
	set_str("socket_name", name.c_str());
	set_int("children_count", 2);
	assert_int_equal(exports.procs[0].no, 2);
	assert_string_equal(exports.procs[0].name, "MI Datagram");
	assert_int_equal(exports.init_f(), 0);
	exports.procs[0].function(1);

	int c = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to {};
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	auto sa = (const struct sockaddr *)&to;

	std::string want = std::string("{\"jsonrpc\":\"2.0\",\"result\":{\"Server\":\"") +
	                   shim_server_version() + "\"},\"id\":3}";
	assert_string_equal(exchange(c, sa, sizeof to, "{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":3}").c_str(),
	                    want.c_str());
	// the reference's plain-text answers
	assert_string_equal(exchange(c, sa, sizeof to, "{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":96").c_str(),
	                    "400 Parse_error");
	assert_string_equal(exchange(c, sa, sizeof to, "hello").c_str(), "400 Parse_error");
	// notifications: nothing
	assert_string_equal(exchange(c, sa, sizeof to, "{\"jsonrpc\":\"2.0\",\"method\":\"version\"}", 300).c_str(),
	                    "<none>");
	// what crashed the reference
	assert_string_equal(exchange(c, sa, sizeof to, "{\"jsonrpc\":\"2.0\",\"id\":99}").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":99}");
	assert_string_equal(exchange(c, sa, sizeof to, "[]").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null}");
	std::string batch = exchange(c, sa, sizeof to,
	                             "[{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":10},"
	                             "{\"jsonrpc\":\"2.0\",\"method\":\"uptime\",\"id\":11}]");
	assert_true(batch.size() > 2 && batch.front() == '[' && batch.back() == ']');
	assert_non_null(strstr(batch.c_str(), "\"id\":10},{\"jsonrpc\":\"2.0\",\"result\":{\"Now\""));
	// still alive
	assert_string_equal(exchange(c, sa, sizeof to, "{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":3}").c_str(),
	                    want.c_str());
	close(c);
	exports.destroy_f();
}

void test_unix_and_small_buffer(void **)
{
	// a fresh loop: the previous test's watcher stays on the old one
	ev_loop_destroy(g_loop);
	g_loop = ev_loop_new(EVFLAG_AUTO);
	shim::roster_get(0)->loop = g_loop;
	std::string path = g_dir + "/mi.sock";
	set_str("socket_name", path.c_str());
	set_int("socket_buf_size", 80);
	assert_int_equal(exports.init_f(), 0);
	exports.procs[0].function(1);

	int c = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un me {}, to {};
	me.sun_family = to.sun_family = AF_UNIX;
	snprintf(me.sun_path, sizeof me.sun_path, "%s/client.sock", g_dir.c_str());
	snprintf(to.sun_path, sizeof to.sun_path, "%s", path.c_str());
	assert_int_equal(bind(c, (struct sockaddr *)&me, sizeof me), 0);
	auto sa = (const struct sockaddr *)&to;
	// a reply over socket_buf_size
	assert_string_equal(exchange(c, sa, sizeof to, "{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":3}").c_str(),
	                    "500 Internal error");
	assert_string_equal(exchange(c, sa, sizeof to, "{\"jsonrpc\":\"2.0\",\"method\":\"kil\",\"id\":3}").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":3}");
	// a request larger than the buffer is cut, so it does not parse
	std::string big = "{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"params\":[\"" + std::string(200, 'x') + "\"],\"id\":1}";
	assert_string_equal(exchange(c, sa, sizeof to, big).c_str(), "400 Parse_error");
	close(c);
	exports.destroy_f();
	assert_int_equal(access(path.c_str(), F_OK), -1); // removed
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_socket_name),
		cmocka_unit_test(test_bad_ports),
		cmocka_unit_test(test_udp),
		cmocka_unit_test(test_udp_names_ipv6_any),
		cmocka_unit_test(test_unix_and_small_buffer),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
