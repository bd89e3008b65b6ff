// event_datagram: parse/match/print of `udp` and `unix`, payloads over real
// UDP and unix datagram sockets, failures that must not block or crash,
// and one delivery through the host's EVI core.
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "evi/evi_core.h"
#include "net/resolve.h"
#include "opensips/evi.h"
#include "opensips/evi_transport.h"
#include "opensips/sr_module.h"
#include "opensips/statistics.h"

#include "../../../../modules/event_datagram/datagram_sock.h"
#include "params_util.h"

#include "../evi_delivery.h"

#include "../../cmocka_cxx.h" // last

extern "C" struct module_exports exports;

namespace {

std::string g_dir;

str S(const char *s) { return str{(char *)s, (int)strlen(s)}; }

std::string printed(evi_reply_sock *s)
{
	str p = evdgram::print(s);
	return std::string(p.s, (size_t)p.len);
}

int udp_listener(int *port)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a {};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t l = sizeof a;
	getsockname(s, (struct sockaddr *)&a, &l);
	*port = ntohs(a.sin_port);
	return s;
}

int unix_listener(const std::string &path)
{
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un a {};
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
	unlink(path.c_str());
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	return s;
}

std::string recv_one(int fd, int wait_ms = 1000)
{
	char buf[70000];
	for (int i = 0; i < wait_ms; i++) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n >= 0)
			return std::string(buf, (size_t)n);
		usleep(1000);
	}
	return "<none>";
}

int setup(void **)
{
	char tmpl[] = "/tmp/ev_dgram_test.XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	g_dir = tmpl;
	shim::evi_reset();
	// registers udp and unix with the EVI core, opens the sending sockets
	return exports.init_f() == 0 ? 0 : -1;
}

int teardown(void **)
{
	exports.destroy_f();
	shim::evi_reset();
	std::string cmd = "rm -rf " + g_dir;
	return system(cmd.c_str()) == 0 ? 0 : -1;
}

void test_parse_udp(void **)
{
	evi_reply_sock *s = evdgram::parse_udp(S("127.0.0.1:9901"));
	assert_non_null(s);
	assert_true(s->flags & EVI_EXPIRE);
	assert_string_equal(printed(s).c_str(), "127.0.0.1:9901");
	// a name is resolved by the host's measured resolver: one query counted
	assert_int_equal(shim::dns_stats_register(), 0);
	stat_var *dns = get_stat("dns:dns_total_queries");
	unsigned long queries = get_stat_val(dns);
	evi_reply_sock *l = evdgram::parse_udp(S("localhost:9901"));
	assert_non_null(l);
	assert_int_equal(get_stat_val(dns), queries + 1);
	assert_string_equal(printed(l).c_str(), "localhost:9901");
	assert_int_equal(evdgram::match(s, l), 1); // same resolved address
	evi_reply_sock *o = evdgram::parse_udp(S("127.0.0.1:9902"));
	assert_int_equal(evdgram::match(s, o), 0);
	evi_reply_sock *o2 = evdgram::parse_udp(S("127.0.0.2:9901"));
	assert_int_equal(evdgram::match(s, o2), 0);
	for (auto *x : {s, l, o, o2})
		evdgram::free_sock(x);

	assert_int_equal(get_stat_val(dns), queries + 1); // literals: no lookup

	// IPv4 only, as the reference: IPv6 literals are refused
	const char *bad[] = {"127.0.0.1", "127.0.0.1:", ":9901", "127.0.0.1:0",
	                     "127.0.0.1:70000", "127.0.0.1:99x", "127.0.0.1:-5", "",
	                     "[::1]:9901", "::1:9901", "[::1", "1.2.3:9901", "a b:9901"};
	for (const char *b : bad)
		if (evdgram::parse_udp(S(b)))
			fail_msg("accepted udp socket '%s'", b);
}

void test_parse_unix(void **)
{
	// a path nobody listens on is accepted (reference extra-unix.jsonl)
	std::string p = g_dir + "/no_such.sock";
	evi_reply_sock *a = evdgram::parse_unix(S(p.c_str()));
	assert_non_null(a);
	assert_true(a->flags & EVI_EXPIRE);
	assert_string_equal(printed(a).c_str(), p.c_str());
	evi_reply_sock *b = evdgram::parse_unix(S(p.c_str()));
	std::string q = g_dir + "/other.sock";
	evi_reply_sock *c = evdgram::parse_unix(S(q.c_str()));
	assert_int_equal(evdgram::match(a, b), 1);
	assert_int_equal(evdgram::match(a, c), 0);
	// a udp socket never matches a unix one
	evi_reply_sock *u = evdgram::parse_udp(S("127.0.0.1:9901"));
	assert_int_equal(evdgram::match(a, u), 0);
	for (auto *x : {a, b, c, u})
		evdgram::free_sock(x);
	std::string longp = "/" + std::string(200, 'x');
	assert_null(evdgram::parse_unix(S(longp.c_str())));
	longp.resize(108); // sun_path holds 107 bytes and the NUL
	assert_null(evdgram::parse_unix(S(longp.c_str())));
	longp.resize(107);
	evi_reply_sock *m = evdgram::parse_unix(S(longp.c_str()));
	assert_non_null(m);
	evdgram::free_sock(m);
	// the path as a whole: colons are part of it
	evi_reply_sock *k = evdgram::parse_unix(S("/tmp/a:b"));
	assert_string_equal(printed(k).c_str(), "/tmp/a:b");
	evdgram::free_sock(k);
}

void test_udp_payload(void **)
{
	int port;
	int fd = udp_listener(&port);
	std::string spec = "127.0.0.1:" + std::to_string(port);
	evi_reply_sock *s = evdgram::parse_udp(S(spec.c_str()));
	assert_non_null(s);
	str ev = str_init("E_REF_SCRIPT");
	test_params p;
	p.str_("k", "v").int_("n", 7);
	assert_int_equal(raise1(evdgram::raise, s, &ev, p.get()), 0);
	assert_string_equal(recv_one(fd).c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"E_REF_SCRIPT\",\"params\":{\"k\":\"v\",\"n\":7}}");
	// no params: no "params" member; no "id" ever
	test_params none;
	assert_int_equal(raise1(evdgram::raise, s, &ev, none.get()), 0);
	assert_string_equal(recv_one(fd).c_str(), "{\"jsonrpc\":\"2.0\",\"method\":\"E_REF_SCRIPT\"}");
	// over the maximum event length: failed, nothing sent
	test_params big;
	big.str_("x", std::string(70000, 'a'));
	assert_true(raise1(evdgram::raise, s, &ev, big.get()) < 0);
	assert_string_equal(recv_one(fd, 100).c_str(), "<none>");
	// a port nobody listens on: fire-and-forget, no crash
	close(fd);
	assert_true(raise1(evdgram::raise, s, &ev, p.get()) <= 0);
	evdgram::free_sock(s);
}

void test_unix_payload_and_failures(void **)
{
	std::string path = g_dir + "/ev.sock";
	int fd = unix_listener(path);
	evi_reply_sock *s = evdgram::parse_unix(S(path.c_str()));
	assert_non_null(s);
	str ev = str_init("E_REF_SCRIPT");
	test_params p;
	p.str_("u", "unix").int_("n", 1);
	assert_int_equal(raise1(evdgram::raise, s, &ev, p.get()), 0);
	assert_string_equal(recv_one(fd).c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"E_REF_SCRIPT\",\"params\":{\"u\":\"unix\",\"n\":1}}");

	// A reader that never reads: the queue fills, sends fail (EAGAIN) and
	// nothing blocks.
	auto t0 = std::chrono::steady_clock::now();
	int fails = 0;
	for (int i = 0; i < 5000; i++)
		if (raise1(evdgram::raise, s, &ev, p.get()) < 0)
			fails++;
	auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::steady_clock::now() - t0).count();
	assert_true(fails > 0);
	assert_true(ms < 2000);

	// The reader went away: ECONNREFUSED, then ENOENT once the path is gone.
	close(fd);
	assert_true(raise1(evdgram::raise, s, &ev, p.get()) < 0);
	unlink(path.c_str());
	assert_true(raise1(evdgram::raise, s, &ev, p.get()) < 0);
	// and it comes back
	fd = unix_listener(path);
	assert_int_equal(raise1(evdgram::raise, s, &ev, p.get()), 0);
	assert_true(recv_one(fd).find("\"u\":\"unix\"") != std::string::npos);
	close(fd);
	evdgram::free_sock(s);
}

// Through the host: subscribe, raise, the sender's dispatch, the listing.
void test_through_evi_core(void **)
{
	int port;
	int fd = udp_listener(&port);
	str name = str_init("E_DGRAM_TEST");
	event_id_t id = evi_publish_event(name);
	assert_true(id >= 0);
	std::string sock = "udp:127.0.0.1:" + std::to_string(port);
	str ssock{sock.data(), (int)sock.size()};
	assert_int_equal(shim::evi_subscribe(name, ssock, 0, false), 0);
	assert_true(evi_probe_event(id) > 0);
	auto stats = shim::evi_subscriber_stats(id);
	assert_int_equal(stats.size(), 1);
	assert_string_equal(stats[0].socket.c_str(), sock.c_str());

	evi_params_p p = evi_get_params();
	str a = str_init("a"), v = str_init("x");
	assert_int_equal(evi_param_add_str(p, &a, &v), 0);
	assert_int_equal(evi_raise_event(id, p), 0);
	shim::evi_dispatch_pending(100);
	assert_string_equal(recv_one(fd).c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"E_DGRAM_TEST\",\"params\":{\"a\":\"x\"}}");
	std::string u = "unix:" + g_dir + "/none.sock";
	str us{u.data(), (int)u.size()};
	assert_int_equal(shim::evi_subscribe(name, us, 0, false), 0);
	assert_int_equal(evi_raise_event(id, nullptr), 0);
	shim::evi_dispatch_pending(100);
	assert_string_equal(recv_one(fd).c_str(), "{\"jsonrpc\":\"2.0\",\"method\":\"E_DGRAM_TEST\"}");
	bool unix_failed = false;
	for (auto &st : shim::evi_subscriber_stats(id))
		if (st.socket == u)
			unix_failed = st.failed == 1;
	assert_true(unix_failed);
	close(fd);
}

// The host's sender batches (raise keeps, flush sends with sendmmsg): many
// events arrive whole and in order; failed batched sends are counted.
void test_batched_through_evi_core(void **)
{
	int port;
	int fd = udp_listener(&port);
	int big = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	str name = str_init("E_DGRAM_BATCH");
	event_id_t id = evi_publish_event(name);
	assert_true(id >= 0);
	std::string sock = "udp:127.0.0.1:" + std::to_string(port);
	str ssock{sock.data(), (int)sock.size()};
	assert_int_equal(shim::evi_subscribe(name, ssock, 0, false), 0);
	std::string u = "unix:" + g_dir + "/nobody.sock";
	str us{u.data(), (int)u.size()};
	assert_int_equal(shim::evi_subscribe(name, us, 0, false), 0);
	const int n = 300;
	str k = str_init("i"), pk = str_init("pad");
	std::string pad(150, 'x');
	str pv{pad.data(), (int)pad.size()};
	for (int i = 0; i < n; i++) {
		evi_params_p p = evi_get_params();
		evi_param_add_int(p, &k, &i);
		evi_param_add_str(p, &pk, &pv);
		assert_int_equal(evi_raise_event(id, p), 0);
	}
	assert_int_equal(shim::evi_dispatch_pending((size_t)-1), 2 * n);
	for (int i = 0; i < n; i++) {
		std::string want = "{\"jsonrpc\":\"2.0\",\"method\":\"E_DGRAM_BATCH\","
		                   "\"params\":{\"i\":" + std::to_string(i) +
		                   ",\"pad\":\"" + pad + "\"}}";
		assert_string_equal(recv_one(fd).c_str(), want.c_str());
	}
	assert_string_equal(recv_one(fd, 50).c_str(), "<none>");
	for (auto &st : shim::evi_subscriber_stats(id)) {
		if (st.socket == sock) {
			assert_int_equal(st.delivered, n);
			assert_int_equal(st.failed, 0);
		} else {
			assert_int_equal(st.delivered, 0); // nobody on that path
			assert_int_equal(st.failed, n);
		}
	}
	close(fd);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_udp),
		cmocka_unit_test(test_parse_unix),
		cmocka_unit_test(test_udp_payload),
		cmocka_unit_test(test_unix_payload_and_failures),
		cmocka_unit_test(test_through_evi_core),
		cmocka_unit_test(test_batched_through_evi_core),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
