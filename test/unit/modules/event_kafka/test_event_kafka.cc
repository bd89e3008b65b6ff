// event_kafka: the socket syntax (good, bad, random input), and a producer
// with no broker: every ticket settled exactly once (a full backlog drops
// at once, old messages drop on the poll thread, the rest fail at
// release), and the release bounded in time.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "opensips/evi_transport.h"

#include "../../../../modules/event_kafka/kafka.h"

#include "../../cmocka_cxx.h" // last

namespace {

using evkafka::spec;

int parse(const std::string &s, spec &sp, std::string &err)
{
	return evkafka::parse_spec(s.data(), (int)s.size(), sp, err);
}

void test_parse_good(void **)
{
	spec sp;
	std::string err;
	assert_int_equal(parse("127.0.0.1:9092/topic1", sp, err), 0);
	assert_string_equal(sp.brokers.c_str(), "127.0.0.1:9092");
	assert_string_equal(sp.topic.c_str(), "topic1");
	assert_false(sp.key_callid);
	assert_true(sp.gprops.empty() && sp.tprops.empty());

	assert_int_equal(parse("a.example:1,[::1]:2,b_c-d:65535/t.x-y_z?g.linger.ms=5&"
	                       "t.acks=all&key=callid&g.topic.metadata.refresh.interval.ms=1000",
	                       sp, err),
	                 0);
	assert_string_equal(sp.brokers.c_str(), "a.example:1,[::1]:2,b_c-d:65535");
	assert_string_equal(sp.topic.c_str(), "t.x-y_z");
	assert_true(sp.key_callid);
	assert_int_equal((int)sp.gprops.size(), 2);
	assert_string_equal(sp.gprops[0].first.c_str(), "linger.ms");
	assert_string_equal(sp.gprops[0].second.c_str(), "5");
	assert_string_equal(sp.gprops[1].first.c_str(), "topic.metadata.refresh.interval.ms");
	assert_int_equal((int)sp.tprops.size(), 1);
	assert_string_equal(sp.tprops[0].first.c_str(), "acks");
	assert_false(sp.user_partitioner);

	assert_int_equal(parse("h:1/t?t.partitioner=murmur2", sp, err), 0);
	assert_true(sp.user_partitioner);
	// an empty value goes to librdkafka, which judges it
	assert_int_equal(parse("h:1/t?g.client.id=", sp, err), 0);
}

void test_parse_bad(void **)
{
	static const struct {
		const char *in, *why;
	} cases[] = {
		{"", "empty socket"},
		{"/t", "empty broker list"},
		{"h:1", "no topic"},
		{"h:1/", "empty topic"},
		{"h/t", "expected host:port"},
		{":1/t", "expected host:port"},
		{"h:/t", "bad port"},
		{"h:0/t", "out of range"},
		{"h:65536/t", "out of range"},
		{"h:123456/t", "bad port"},
		{"h:1x/t", "bad port"},
		{"h:1,/t", "empty entry"},
		{"h:1,,h:2/t", "empty entry"},
		{"h!:1/t", "bad host name"},
		{"[::1/t", "[ipv6]:port"},
		{"[]:1/t", "[ipv6]:port"},
		{"[::g]:1/t", "bad IPv6"},
		{"h:1/a/b", "bad topic name"},
		{"h:1/..", "bad topic name"},
		{"h:1/t?", "empty property list"},
		{"h:1/t?g.a=1&", "bad property ''"},
		{"h:1/t?=1", "bad property"},
		{"h:1/t?g.a", "bad property 'g.a'"},
		{"h:1/t?linger.ms=1", "unknown property 'linger.ms'"},
		{"h:1/t?g.=1", "unknown property 'g.'"},
		{"h:1/t?key=ruri", "key=callid"},
		{"h:1/t?key=", "key=callid"},
		{"h :1/t", "blanks or control"},
		{"h:1/t\n", "blanks or control"},
	};
	for (auto &c : cases) {
		spec sp;
		std::string err;
		if (parse(c.in, sp, err) == 0 || err.find(c.why) == std::string::npos)
			fail_msg("'%s': rc 0 or error '%s' (expected '%s')", c.in, err.c_str(), c.why);
	}
	spec sp;
	std::string err;
	std::string longhost(300, 'a');
	assert_int_equal(parse(longhost + ":1/t", sp, err), -1);
	assert_int_equal(parse("h:1/" + std::string(250, 't'), sp, err), -1);
	std::string nul("h:1/t\0x", 7);
	assert_int_equal(parse(nul, sp, err), -1);
	assert_int_equal(evkafka::parse_spec(nullptr, 5, sp, err), -1);
	assert_int_equal(evkafka::parse_spec("h:1/t", -1, sp, err), -1);
}

// Random input from the syntax's own characters: never crashes, and what
// parses has a broker list and a topic.
void test_parse_random(void **)
{
	static const char alphabet[] = "ab1:9/?&=.,[]gtk_-ey \x01%";
	unsigned int seed = 12345;
	for (int i = 0; i < 200000; i++) {
		int len = (int)(rand_r(&seed) % 40);
		std::string s;
		for (int j = 0; j < len; j++)
			s += alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
		spec sp;
		std::string err;
		if (parse(s, sp, err) == 0) {
			assert_false(sp.brokers.empty());
			assert_false(sp.topic.empty());
		} else {
			assert_false(err.empty());
		}
	}
}

// ---- a producer with no broker ----

std::mutex g_mu;
std::map<int, int> g_settled; // ticket id -> times settled
std::map<int, int> g_outcome; // ticket id -> outcome

struct fake_ticket {
	evi_ticket pub;
	int id;
};

void fake_settle(evi_ticket *t, int outcome)
{
	auto *f = reinterpret_cast<fake_ticket *>(t);
	{
		std::lock_guard<std::mutex> lk(g_mu);
		g_settled[f->id]++;
		g_outcome[f->id] = outcome;
	}
	delete f;
}

evi_ticket *ticket(int id)
{
	auto *f = new fake_ticket{{sizeof(evi_ticket), fake_settle}, id};
	return &f->pub;
}

int count(int outcome)
{
	std::lock_guard<std::mutex> lk(g_mu);
	int n = 0;
	for (auto &kv : g_outcome)
		n += kv.second == outcome;
	return n;
}

std::shared_ptr<evkafka::producer> make(const std::string &sock)
{
	spec sp;
	std::string err;
	assert_int_equal(parse(sock, sp, err), 0);
	auto p = evkafka::producer::create(sp, evkafka::producer::EVI, "", err);
	if (!p)
		fail_msg("create: %s", err.c_str());
	return p;
}

void test_exactly_once(void **)
{
	g_settled.clear();
	g_outcome.clear();
	evkafka::backlog_events = 5;
	// port 1 on the loopback: refused, nobody ever answers
	auto p = make("127.0.0.1:1/t");
	const char payload[] = "{\"jsonrpc\":\"2.0\",\"method\":\"E_X\"}";
	str cid{(char *)"abc", 3};
	for (int i = 0; i < 12; i++)
		assert_int_equal(p->produce_event(ticket(i), payload, sizeof payload - 1, cid),
		                 EVI_OUTCOME_LATER);
	// the 7 over the backlog are dropped at once
	assert_int_equal(count(EVI_OUTCOME_DROPPED), 7);
	assert_int_equal((int)g_settled.size(), 7);
	p->release();
	auto t0 = std::chrono::steady_clock::now();
	p->join();
	double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	assert_true(took < 2.0);
	assert_int_equal((int)g_settled.size(), 12);
	for (auto &kv : g_settled)
		assert_int_equal(kv.second, 1);
	assert_int_equal(count(EVI_OUTCOME_FAILED), 5);
	// released: refused from now on, still settled once
	assert_int_equal(p->produce_event(ticket(100), payload, sizeof payload - 1, cid),
	                 EVI_OUTCOME_LATER);
	assert_int_equal(g_settled[100], 1);
	assert_int_equal(g_outcome[100], EVI_OUTCOME_FAILED);
	evkafka::registry_reap();
	evkafka::backlog_events = 10000;
}

void test_max_age(void **)
{
	g_settled.clear();
	g_outcome.clear();
	evkafka::backlog_max_age = 1;
	auto p = make("127.0.0.1:1/t");
	const char payload[] = "x";
	for (int i = 0; i < 3; i++)
		p->produce_event(ticket(i), payload, 1, str{nullptr, 0});
	auto t0 = std::chrono::steady_clock::now();
	while (count(EVI_OUTCOME_DROPPED) < 3 &&
	       std::chrono::steady_clock::now() - t0 < std::chrono::seconds(6))
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	assert_int_equal(count(EVI_OUTCOME_DROPPED), 3);
	p->release();
	p->join();
	for (auto &kv : g_settled)
		assert_int_equal(kv.second, 1);
	evkafka::backlog_max_age = 30;
	evkafka::registry_reap();
}

void test_rejected_conf(void **)
{
	spec sp;
	std::string err;
	assert_int_equal(parse("h:1/t?g.no.such.property=1", sp, err), 0);
	assert_null(evkafka::producer::create(sp, evkafka::producer::EVI, "", err).get());
	assert_non_null(strstr(err.c_str(), "No such configuration property"));
	assert_int_equal(parse("h:1/t?t.acks=0", sp, err), 0);
	assert_null(evkafka::producer::create(sp, evkafka::producer::EVI, "", err).get());
	assert_non_null(strstr(err.c_str(), "enable.idempotence"));
	// the user may turn idempotence off, and then acks=0 is fine
	assert_int_equal(parse("h:1/t?t.acks=0&g.enable.idempotence=false", sp, err), 0);
	auto p = evkafka::producer::create(sp, evkafka::producer::EVI, "", err);
	assert_non_null(p.get());
	p->release();
	p->join();
	evkafka::registry_reap();
}

void test_shutdown_closes(void **)
{
	auto a = make("127.0.0.1:1/a");
	auto b = make("127.0.0.1:1/b");
	auto t0 = std::chrono::steady_clock::now();
	evkafka::registry_shutdown();
	double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	assert_true(took < 2.0);
	assert_true(a->finished() && b->finished());
	// nothing is created once the module is closing
	spec sp;
	std::string err;
	assert_int_equal(parse("h:1/t", sp, err), 0);
	assert_null(evkafka::producer::create(sp, evkafka::producer::EVI, "", err).get());
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_random),
		cmocka_unit_test(test_exactly_once),
		cmocka_unit_test(test_max_age),
		cmocka_unit_test(test_rejected_conf),
		cmocka_unit_test(test_shutdown_closes),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
