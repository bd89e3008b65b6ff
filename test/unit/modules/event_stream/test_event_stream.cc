// event_stream: parse/match/print, the Sender on a libev loop driven here
// against real listening sockets: back-to-back framing on one persistent
// connection, method override and event_param, reconnect, reliable-mode
// ids/replies/timeouts, and a peer that never reads.
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ev.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "evi/evi_core.h"
#include "net/resolve.h"
#include "opensips/evi.h"
#include "opensips/evi_transport.h"
#include "opensips/sr_module.h"
#include "opensips/statistics.h"

#include "../../../../modules/event_stream/stream.h"
#include "../event_datagram/params_util.h"

#include "../evi_delivery.h"

#include "../../cmocka_cxx.h" // last

extern "C" struct module_exports exports;

namespace {

struct ev_loop *g_loop;

str S(const std::string &s) { return str{(char *)s.data(), (int)s.size()}; }

std::string printed(evi_reply_sock *s)
{
	str p = evstream::print(s);
	return std::string(p.s, (size_t)p.len);
}

int tcp_listener(int *port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a {};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s, 8), 0);
	socklen_t l = sizeof a;
	getsockname(s, (struct sockaddr *)&a, &l);
	*port = ntohs(a.sin_port);
	return s;
}

void pump(int ms)
{
	for (int i = 0; i < ms; i++) {
		ev_run(g_loop, EVRUN_NOWAIT);
		usleep(1000);
	}
}

int accept_one(int lfd, int wait_ms = 1000)
{
	for (int i = 0; i < wait_ms; i++) {
		ev_run(g_loop, EVRUN_NOWAIT);
		int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
		if (c >= 0)
			return c;
		usleep(1000);
	}
	return -1;
}

// Reads from `fd` while pumping the loop until `want` bytes came (or time
// runs out).
std::string read_n(int fd, size_t want, int wait_ms = 1000)
{
	std::string out;
	char buf[65536];
	for (int i = 0; i < wait_ms && out.size() < want; i++) {
		ev_run(g_loop, EVRUN_NOWAIT);
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n > 0)
			out.append(buf, (size_t)n);
		else
			usleep(1000);
	}
	return out;
}

evi_reply_sock *sock_to(int port, const char *method = nullptr)
{
	std::string spec = "127.0.0.1:" + std::to_string(port);
	if (method)
		spec += std::string("/") + method;
	evi_reply_sock *s = evstream::parse(S(spec));
	assert_non_null(s);
	return s;
}

int setup(void **)
{
	shim::evi_reset();
	g_loop = ev_loop_new(EVFLAG_AUTO);
	if (exports.init_f() != 0)
		return -1;
	evstream::sender_start(g_loop);
	return 0;
}

int teardown(void **)
{
	evstream::sender_close_queue();
	evstream::sender_shutdown(true);
	ev_loop_destroy(g_loop);
	shim::evi_reset();
	return 0;
}

void test_parse(void **)
{
	// the Sender thread, as it appears in `ps`
	assert_non_null(exports.procs);
	assert_string_equal(exports.procs[0].name, "event_stream Sender");
	assert_int_equal(exports.procs[0].no, 1);
	assert_null(exports.procs[1].name);

	evi_reply_sock *a = evstream::parse(S("127.0.0.1:9902"));
	assert_non_null(a);
	assert_true(a->flags & EVI_EXPIRE);
	assert_string_equal(printed(a).c_str(), "127.0.0.1:9902");
	evi_reply_sock *m = evstream::parse(S("127.0.0.1:9902/my_method"));
	assert_string_equal(printed(m).c_str(), "127.0.0.1:9902/my_method");
	// a name is resolved by the host's measured resolver: one query counted
	assert_int_equal(shim::dns_stats_register(), 0);
	stat_var *dns = get_stat("dns:dns_total_queries");
	unsigned long queries = get_stat_val(dns);
	evi_reply_sock *l = evstream::parse(S("localhost:9902"));
	assert_int_equal(get_stat_val(dns), queries + 1);
	assert_string_equal(printed(l).c_str(), "localhost:9902");
	evi_reply_sock *p = evstream::parse(S("127.0.0.1:9903"));
	assert_int_equal(evstream::match(a, l), 1);
	assert_int_equal(evstream::match(a, m), 0); // method differs
	assert_int_equal(evstream::match(a, p), 0);
	for (auto *x : {a, m, l, p})
		evstream::free_sock(x);
	// the method is everything after the first '/'
	evi_reply_sock *mm = evstream::parse(S("127.0.0.1:9902/a/b"));
	assert_string_equal(printed(mm).c_str(), "127.0.0.1:9902/a/b");
	evstream::free_sock(mm);
	// IPv4 only, as the reference: IPv6 literals are refused
	const char *bad[] = {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:", ":80", "127.0.0.1:1/",
	                     "127.0.0.1:70000", "127.0.0.1:8x/m", "", "[::1]:9902",
	                     "[::1]:9902/m", "::1:9902", "127.0.0.1/m", "[::1/m"};
	for (const char *b : bad)
		if (evstream::parse(S(b)))
			fail_msg("accepted tcp socket '%s'", b);
}

void test_json_object_end(void **)
{
	auto end = [](const char *s) { return evstream::json_object_end(s, strlen(s)); };
	assert_int_equal(end("{}"), 2);
	assert_int_equal(end("{\"id\":1}{\"id\":2}"), 8);
	assert_int_equal(end("{\"a\":\"}\\\"{\"}x"), 12);
	assert_int_equal(end("{\"a\":[1,{\"b\":2}]}"), 17);
	assert_int_equal(end("{\"a\":\"x"), 0);
	assert_int_equal(end("{\"a\":{}"), 0);
}

void test_ids(void **)
{
	evstream::seed_ids();
	int a = evstream::next_id(), b = evstream::next_id();
	assert_true(a > 0);
	assert_int_equal(b, a + 1);
}

const char k_plain[] = "{\"jsonrpc\":\"2.0\",\"method\":\"my_method\"}";

void test_back_to_back(void **)
{
	evstream::reliable_mode = 0;
	int port;
	int lfd = tcp_listener(&port);
	evi_reply_sock *s = sock_to(port);
	evi_reply_sock *sm = sock_to(port, "my_method");
	str ev = str_init("E_CORE_SR_STATUS_CHANGED");
	test_params p;
	p.str_("group", "ref_app").str_("identifier", "main").int_("status", -3)
		.str_("details", "app degraded").int_("old_status", 1);
	test_params none;
	assert_int_equal(raise1(evstream::raise, s, &ev, p.get()), 0);
	assert_int_equal(raise1(evstream::raise, sm, &ev, none.get()), 0);
	assert_int_equal(raise1(evstream::raise, s, &ev, none.get()), 0);
	int c = accept_one(lfd);
	assert_true(c >= 0);
	std::string want =
		"{\"jsonrpc\":\"2.0\",\"method\":\"E_CORE_SR_STATUS_CHANGED\",\"params\":{\"group\":\"ref_app\","
		"\"identifier\":\"main\",\"status\":-3,\"details\":\"app degraded\",\"old_status\":1}}"
		"{\"jsonrpc\":\"2.0\",\"method\":\"my_method\"}"
		"{\"jsonrpc\":\"2.0\",\"method\":\"E_CORE_SR_STATUS_CHANGED\"}";
	assert_string_equal(read_n(c, want.size()).c_str(), want.c_str());
	// still one connection: nothing else to accept; input is ignored
	assert_int_equal(send(c, "garbage", 7, 0), 7);
	assert_int_equal(raise1(evstream::raise, sm, &ev, none.get()), 0);
	assert_string_equal(read_n(c, strlen(k_plain)).c_str(), k_plain);
	assert_int_equal(accept_one(lfd, 50), -1);

	// event_param goes first, only when there are params
	char ep[] = "event";
	evstream::event_param = ep;
	test_params one;
	one.int_("n", 1);
	assert_int_equal(raise1(evstream::raise, sm, &ev, one.get()), 0);
	assert_int_equal(raise1(evstream::raise, sm, &ev, none.get()), 0);
	want = "{\"jsonrpc\":\"2.0\",\"method\":\"my_method\",\"params\":{\"event\":\"E_CORE_SR_STATUS_CHANGED\",\"n\":1}}"
	       "{\"jsonrpc\":\"2.0\",\"method\":\"my_method\"}";
	assert_string_equal(read_n(c, want.size()).c_str(), want.c_str());
	evstream::event_param = nullptr;

	// the peer closes: the next event reconnects
	close(c);
	pump(50);
	assert_int_equal(raise1(evstream::raise, sm, &ev, none.get()), 0);
	c = accept_one(lfd);
	assert_true(c >= 0);
	assert_string_equal(read_n(c, strlen(k_plain)).c_str(), k_plain);
	close(c);
	close(lfd);
	pump(20);

	// nobody listens: the raise is handed on (0), the delivery fails later
	unsigned long failed = evstream::get_stats().failed;
	assert_int_equal(raise1(evstream::raise, s, &ev, none.get()), 0);
	pump(100);
	assert_true(evstream::get_stats().failed == failed + 1);
	evstream::free_sock(s);
	evstream::free_sock(sm);
}

void test_reliable(void **)
{
	evstream::reliable_mode = 1;
	evstream::timeout_ms = 1000;
	int port;
	int lfd = tcp_listener(&port);
	evi_reply_sock *s = sock_to(port);
	str ev = str_init("E_REL");
	test_params p;
	p.int_("n", 1);
	auto before = evstream::get_stats();
	assert_int_equal(raise1(evstream::raise, s, &ev, p.get()), 0);
	assert_int_equal(raise1(evstream::raise, s, &ev, p.get()), 0);
	assert_int_equal(raise1(evstream::raise, s, &ev, p.get()), 0);
	int c = accept_one(lfd);
	assert_true(c >= 0);
	const std::string tail = ",\"jsonrpc\":\"2.0\",\"method\":\"E_REL\",\"params\":{\"n\":1}}";
	std::string got;
	for (int i = 0; i < 1000; i++) {
		got += read_n(c, 1, 1);
		if (std::count(got.begin(), got.end(), '}') >= 6)
			break;
	}
	// {"id":N,...}{"id":N+1,...}{"id":N+2,...}: id first, positive, stepped
	assert_true(got.rfind("{\"id\":", 0) == 0);
	int id = atoi(got.c_str() + 6);
	assert_true(id > 0);
	std::string want;
	for (int k = 0; k < 3; k++)
		want += "{\"id\":" + std::to_string(id + k) + tail;
	assert_string_equal(got.c_str(), want.c_str());
	assert_int_equal(evstream::awaiting_replies(((evstream::stream_sock *)s->priv)->addr), 3);
	// one ok, one error, in one segment split mid-object; the third never
	std::string r1 = "{\"jsonrpc\":\"2.0\",\"result\":\"OK\",\"id\":" + std::to_string(id) + "} ";
	std::string r2 = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-1,\"message\":\"x}\"},\"id\":" +
	                 std::to_string(id + 1) + "}";
	std::string both = r1 + r2;
	assert_int_equal(send(c, both.data(), 20, 0), 20);
	pump(20);
	assert_int_equal(send(c, both.data() + 20, both.size() - 20, 0), (ssize_t)(both.size() - 20));
	pump(50);
	auto mid = evstream::get_stats();
	assert_int_equal(mid.delivered, before.delivered + 1);
	assert_int_equal(mid.failed, before.failed + 1);
	assert_int_equal(evstream::awaiting_replies(((evstream::stream_sock *)s->priv)->addr), 1);
	// the third times out on a 1 s tick after its 1000 ms
	pump(2300);
	auto after = evstream::get_stats();
	assert_int_equal(after.timeouts, before.timeouts + 1);
	assert_int_equal(after.failed, before.failed + 2);
	assert_int_equal(evstream::awaiting_replies(((evstream::stream_sock *)s->priv)->addr), 0);
	close(c);
	close(lfd);
	pump(20);
	evstream::free_sock(s);
	evstream::reliable_mode = 0;
}

// A peer that accepts and never reads: raises stay fast, the pending output
// stays under its cap and the excess is dropped and counted.
void test_peer_never_reads(void **)
{
	evstream::reliable_mode = 0;
	int port;
	int lfd = tcp_listener(&port);
	evi_reply_sock *s = sock_to(port);
	struct sockaddr_in dest = ((evstream::stream_sock *)s->priv)->addr;
	str ev = str_init("E_BIG");
	test_params p;
	p.str_("blob", std::string(4000, 'b'));
	auto before = evstream::get_stats();
	int c = -1;
	auto t0 = std::chrono::steady_clock::now();
	int refused = 0;
	for (int i = 0; i < 3000; i++) { // ~12 MB offered
		if (raise1(evstream::raise, s, &ev, p.get()) < 0)
			refused++;
		ev_run(g_loop, EVRUN_NOWAIT);
		if (c < 0)
			c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
		assert_true(evstream::pending_bytes(dest) <= evstream::conn_max_pending);
	}
	pump(50);
	auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::steady_clock::now() - t0).count();
	assert_true(ms < 5000);
	assert_true(c >= 0);
	auto after = evstream::get_stats();
	assert_true(after.dropped > before.dropped);
	assert_true(evstream::pending_bytes(dest) <= evstream::conn_max_pending);
	assert_true(evstream::pending_bytes(dest) > 0);
	(void)refused;
	close(c);
	close(lfd);
	pump(50);
	evstream::free_sock(s);
}

// The bounded queue: with no Sender running, raises fail once it is full.
void test_queue_bound(void **)
{
	evstream::sender_close_queue();
	str ev = str_init("E_Q");
	evi_reply_sock *s = evstream::parse(S("127.0.0.1:9"));
	assert_true(raise1(evstream::raise, s, &ev, nullptr) < 0); // closed
	evstream::free_sock(s);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_json_object_end),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_back_to_back),
		cmocka_unit_test(test_reliable),
		cmocka_unit_test(test_peer_never_reads),
		cmocka_unit_test(test_queue_bound),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
