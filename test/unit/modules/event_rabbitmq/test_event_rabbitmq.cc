// event_rabbitmq without a broker: the socket and server_id grammars, and
// a link's backlog (count, bytes and age bounds, every message settled once
// when the link stops, a stop that returns at once with the broker away).
// The broker side is tested for real in test/system/suite_rabbitmq.py.
#include <chrono>
#include <cstring>
#include <string>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "opensips/evi_transport.h"

#include "../../../../modules/event_rabbitmq/rmq.h"

#include "../../cmocka_cxx.h" // last

namespace {

bool sock_ok(const char *text, rmq::target &t)
{
	std::string err;
	t = rmq::target();
	return rmq::parse_socket(text, (int)strlen(text), t, err);
}

std::string sock_err(const char *text)
{
	std::string err;
	rmq::target t;
	assert_false(rmq::parse_socket(text, (int)strlen(text), t, err));
	assert_false(err.empty());
	return err;
}

void test_socket_grammar(void **)
{
	rmq::target t;
	assert_true(sock_ok("guest:guest@127.0.0.1:5672/pike", t));
	assert_string_equal(t.user.c_str(), "guest");
	assert_string_equal(t.password.c_str(), "guest");
	assert_string_equal(t.host.c_str(), "127.0.0.1");
	assert_int_equal(t.port, 5672);
	assert_string_equal(t.routing_key.c_str(), "pike");
	assert_true(t.exchange.empty());
	assert_false(t.persistent);
	assert_true(t.mandatory); // unroutable events count as failed

	assert_true(sock_ok("127.0.0.1/pike", t)); // defaults
	assert_string_equal(t.user.c_str(), "guest");
	assert_int_equal(t.port, 5672);

	assert_true(sock_ok("bob@broker.example:5673/exchange=ev;persistent?sr.changes", t));
	assert_string_equal(t.user.c_str(), "bob");
	assert_string_equal(t.password.c_str(), "");
	assert_string_equal(t.host.c_str(), "broker.example");
	assert_int_equal(t.port, 5673);
	assert_string_equal(t.exchange.c_str(), "ev");
	assert_true(t.persistent);
	assert_string_equal(t.routing_key.c_str(), "sr.changes");

	assert_true(sock_ok("u:p@[::1]:5672/ persistent ; exchange = x ?k", t));
	assert_string_equal(t.host.c_str(), "::1");
	assert_string_equal(t.exchange.c_str(), "x");
	assert_true(t.persistent);

	assert_true(sock_ok("127.0.0.1/?key", t)); // empty params
	assert_string_equal(t.routing_key.c_str(), "key");

	assert_true(sock_err("").size() > 0);
	assert_true(sock_err("127.0.0.1").find("'/'") != std::string::npos);
	assert_true(sock_err("127.0.0.1/").find("routing key") != std::string::npos);
	assert_true(sock_err("127.0.0.1:0/q").size() > 0);
	assert_true(sock_err("127.0.0.1:65536/q").size() > 0);
	assert_true(sock_err("@127.0.0.1/q").find("user") != std::string::npos);
	assert_true(sock_err("/q").find("host") != std::string::npos);
	assert_true(sock_err("127.0.0.1/colour=red?q").find("unknown parameter") !=
	            std::string::npos);
	assert_true(sock_err("127.0.0.1/persistent=yes?q").find("unknown") != std::string::npos);
	assert_true(sock_err("127.0.0.1/exchange?q").find("unknown") != std::string::npos);
	assert_true(sock_err("127.0.0.1/tls_domain=rmq?q").find("tls_mgm") != std::string::npos);
	assert_true(sock_err("[::1/q").size() > 0);
	std::string longkey = "127.0.0.1/" + std::string(300, 'k');
	assert_true(sock_err(longkey.c_str()).find("255") != std::string::npos);
	const char nul[] = "127.0.0.1/a\0b";
	std::string err;
	assert_false(rmq::parse_socket(nul, (int)sizeof nul - 1, t, err));
}

void test_server_id_grammar(void **)
{
	std::string id, err;
	rmq::target t;
	assert_true(rmq::parse_server_id("[ID1] uri = amqp://127.0.0.1", id, t, err));
	assert_string_equal(id.c_str(), "ID1");
	assert_string_equal(t.host.c_str(), "127.0.0.1");
	assert_int_equal(t.port, 5672);
	assert_string_equal(t.user.c_str(), "guest");
	assert_string_equal(t.vhost.c_str(), "/");
	assert_true(t.persistent); // server_id messages are persistent by default
	assert_false(t.mandatory);

	t = rmq::target();
	assert_true(rmq::parse_server_id(" [k2] uri = amqp://u:pw@h:5999/vh;\n heartbeat = 5; "
	                                 "frames = 65536; retries = 3; exchange = ex; mandatory; "
	                                 "immediate; non-persistent",
	                                 id, t, err));
	assert_string_equal(id.c_str(), "k2");
	assert_string_equal(t.user.c_str(), "u");
	assert_string_equal(t.password.c_str(), "pw");
	assert_string_equal(t.host.c_str(), "h");
	assert_int_equal(t.port, 5999);
	assert_string_equal(t.vhost.c_str(), "vh");
	assert_int_equal(t.heartbeat, 5);
	assert_int_equal(t.frame_max, 65536);
	assert_string_equal(t.exchange.c_str(), "ex");
	assert_true(t.mandatory);
	assert_true(t.immediate);
	assert_false(t.persistent);

	const char *bad[] = {
		"uri = amqp://h",                    // no [ID]
		"[] uri = amqp://h",                 // empty id
		"[x uri = amqp://h",                 // no ]
		"[x] heartbeat = 5",                 // no uri
		"[x] uri = http://h",                // not amqp
		"[x] uri = amqps://h",               // TLS
		"[x] uri = amqp://h; tls_domain = d", // TLS
		"[x] uri = amqp://h; frames = 12",   // too small
		"[x] uri = amqp://h; heartbeat = -1",
		"[x] uri = amqp://h; heartbeat = x",
		"[x] uri = amqp://h; mandatory = 1", // a flag takes no value
		"[x] uri = amqp://h; colour = red",
	};
	for (const char *b : bad) {
		t = rmq::target();
		err.clear();
		assert_false(rmq::parse_server_id(b, id, t, err));
		assert_false(err.empty());
	}
}

// Outcomes of the tickets a test hands out.
struct counting_ticket {
	evi_ticket pub;
	int *slots;
};
int g_outcomes[4];
int g_settled;

void count_settle(evi_ticket *t, int outcome)
{
	auto *ct = reinterpret_cast<counting_ticket *>(t);
	ct->slots[outcome]++;
	g_settled++;
	delete ct;
}

rmq::message msg_with_ticket(size_t body)
{
	rmq::message m;
	m.body.assign(body, 'x');
	m.ticket = &(new counting_ticket{{sizeof(evi_ticket), count_settle}, g_outcomes})->pub;
	return m;
}

int unused_port()
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a {};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(s, (struct sockaddr *)&a, sizeof a);
	socklen_t l = sizeof a;
	getsockname(s, (struct sockaddr *)&a, &l);
	close(s); // nothing listens there now: connections are refused
	return ntohs(a.sin_port);
}

void reset_outcomes()
{
	memset(g_outcomes, 0, sizeof g_outcomes);
	g_settled = 0;
}

void test_backlog_bounds(void **)
{
	reset_outcomes();
	rmq::settings saved = rmq::g_set;
	rmq::g_set.backlog_events = 10;
	rmq::g_set.backlog_bytes = 1 << 20;
	rmq::target t;
	t.host = "127.0.0.1";
	t.port = unused_port();
	t.routing_key = "q";
	{
		rmq::link l("unit", t); // never started: nothing is sent
		for (int i = 0; i < 15; i++) {
			rmq::message m = msg_with_ticket(10);
			evi_ticket *tk = m.ticket;
			int rc = l.submit(std::move(m));
			if (i < 10) {
				assert_int_equal(rc, EVI_OUTCOME_LATER);
			} else {
				assert_int_equal(rc, EVI_OUTCOME_DROPPED); // over the count
				tk->settle(tk, rc);
			}
		}
		// one message larger than the byte bound
		rmq::g_set.backlog_bytes = 1000;
		rmq::message big = msg_with_ticket(2000);
		evi_ticket *tk = big.ticket;
		assert_int_equal(l.submit(std::move(big)), EVI_OUTCOME_DROPPED);
		tk->settle(tk, EVI_OUTCOME_DROPPED);
		assert_int_equal(g_settled, 6);
		l.stop(0);
		l.join(); // what was queued is settled: dropped, never sent
		assert_int_equal(g_settled, 16);
		assert_int_equal(g_outcomes[EVI_OUTCOME_DROPPED], 16);
		// a stopped link refuses
		rmq::message late = msg_with_ticket(1);
		tk = late.ticket;
		assert_int_equal(l.submit(std::move(late)), EVI_OUTCOME_FAILED);
		tk->settle(tk, EVI_OUTCOME_FAILED);
	}
	rmq::g_set = saved;
}

void test_age_and_stop_without_broker(void **)
{
	reset_outcomes();
	rmq::settings saved = rmq::g_set;
	rmq::g_set.backlog_max_age = 1;
	rmq::g_set.connect_timeout = 200;
	rmq::target t;
	t.host = "127.0.0.1";
	t.port = unused_port();
	t.routing_key = "q";
	rmq::link l("unit-age", t);
	assert_int_equal(l.start(), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(l.submit(msg_with_ticket(10)), EVI_OUTCOME_LATER);
	// the broker never answers: after backlog_max_age the five are dropped
	auto t0 = std::chrono::steady_clock::now();
	while (g_settled < 5 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5))
		usleep(20000);
	assert_int_equal(g_outcomes[EVI_OUTCOME_DROPPED], 5);
	for (int i = 0; i < 3; i++)
		assert_int_equal(l.submit(msg_with_ticket(10)), EVI_OUTCOME_LATER);
	t0 = std::chrono::steady_clock::now();
	l.stop(500);
	l.join();
	auto took = std::chrono::steady_clock::now() - t0;
	// not connected: no grace to wait for
	assert_true(took < std::chrono::milliseconds(400));
	assert_int_equal(g_settled, 8);
	assert_int_equal(g_outcomes[EVI_OUTCOME_DROPPED], 8);
	assert_int_equal(g_outcomes[EVI_OUTCOME_DELIVERED], 0);
	assert_true(l.n_dropped.load() == 8);
	rmq::g_set = saved;
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_grammar),
		cmocka_unit_test(test_server_id_grammar),
		cmocka_unit_test(test_backlog_bounds),
		cmocka_unit_test(test_age_and_stop_without_broker),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
