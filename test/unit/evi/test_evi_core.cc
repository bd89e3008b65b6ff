// The EVI core: ids, probe, params, subscriptions and expiry, purge, queues
// (drop counting, order), counters, nesting limit.
#include "evi_util.h"

#include "../cmocka_cxx.h"

using namespace evitest;

namespace {

int setup(void **)
{
	reset();
	return 0;
}

void publish_ids(void **)
{
	assert_int_equal(publish("E_A"), 0);
	assert_int_equal(publish("E_B"), 1);
	assert_int_equal(publish("E_A"), 0); // existing: same id (warning)
	assert_int_equal(publish("e_a"), 2); // byte-exact
	std::string n64(64, 'x'), n65(65, 'x');
	assert_int_equal(publish(n64.c_str()), 3);
	assert_int_equal(publish(n65.c_str()), EVI_ERROR);
	assert_int_equal(evi_publish_event(str{nullptr, 0}), EVI_ERROR);
	str b{(char *)"E_B", 3}, none{(char *)"E_NONE", 6};
	assert_int_equal(evi_get_id(&b), 1);
	assert_int_equal(evi_get_id(&none), EVI_ERROR);
	const str *name = evi_get_event_name(2);
	assert_non_null(name);
	assert_int_equal(name->len, 3);
	assert_memory_equal(name->s, "e_a", 3);
	assert_null(evi_get_event_name(4));
	assert_null(evi_get_event_name(-1));
	// ids follow publication order in the script helper too, without warning
	assert_int_equal(shim::evi_publish_script_name("E_B"), 1);
	assert_int_equal(shim::evi_publish_script_name("E_C"), 4);
}

void probe(void **)
{
	event_id_t id = publish("E_P");
	assert_int_equal(evi_probe_event(-1), -1);
	assert_int_equal(evi_probe_event(99), -1);
	assert_int_equal(evi_probe_event(id), 0);
	assert_int_equal(subscribe("E_P", "t:one", 60, true), 0);
	// the number of transports: route, t, n
	assert_int_equal(evi_probe_event(id), 3);
	// no subscribers: raise is free and returns 0 (takes ownership)
	event_id_t q = publish("E_Q");
	evi_params_p p = evi_get_params();
	int v = 1;
	evi_param_add_int(p, nullptr, &v);
	assert_int_equal(evi_raise_event(q, p), 0);
	assert_int_equal(evi_raise_event(-5, evi_get_params()), -1);
	assert_int_equal(drain(), 0);
}

void subscribe_errors(void **)
{
	publish("E_S");
	assert_int_equal(subscribe("E_NONE", "t:x", 10, true), -1);
	assert_int_equal(subscribe("E_S", "bogus:x", 10, true), -1);
	assert_int_equal(subscribe("E_S", "t", 10, true), -1);      // parse("") fails
	assert_int_equal(subscribe("E_S", "t:bad!", 10, true), -1); // parse fails
	assert_int_equal(subscribe("E_S", "", 10, true), -1);
	assert_int_equal(subscribe("E_S", "route:nope", 0, false), -1); // no script
	assert_int_equal(shim::evi_subscriber_stats(-1).size(), 0);
}

void params_and_delivery(void **)
{
	event_id_t id = publish("E_D");
	assert_int_equal(subscribe("E_D", "t:a", 60, true), 0);
	evi_params_p p = evi_get_params();
	assert_true(p->flags & EVI_FREE_LIST);
	char text[] = "hello";
	str s{text, 5}, n1{(char *)"s", 1}, n2{(char *)"i", 1}, n3{(char *)"r", 1},
	    n4{(char *)"l", 1};
	int v = 42;
	assert_int_equal(evi_param_add_str(p, &n1, &s), 0);
	assert_int_equal(evi_param_add_int(p, &n2, &v), 0);
	evi_param_p r = evi_param_create(p, &n3);
	assert_non_null(r);
	int w = 7;
	evi_param_set_int(r, &w);
	evi_param_reset(r); // skipped by transports
	evi_param_p late = evi_param_create(p, &n4);
	str ls{(char *)"late", 4};
	evi_param_set_str(late, &ls);
	// strings are not copied until the raise
	text[0] = 'J';
	assert_int_equal(evi_raise_event(id, p), 0);
	text[0] = 'X'; // the raise took its own copy
	assert_int_equal(drain(), 1);
	auto g = got();
	assert_int_equal(g.size(), 1);
	assert_string_equal(g[0].socket.c_str(), "a");
	assert_string_equal(g[0].payload.c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"E_D\",\"params\":"
	                    "{\"s\":\"Jello\",\"i\":42,\"l\":\"late\"}}");
	// NULL params: no params member
	assert_int_equal(evi_raise_event(id, nullptr), 0);
	drain();
	assert_string_equal(got()[1].payload.c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"E_D\"}");
	// a caller-owned list (no EVI_FREE_LIST) is not freed
	evi_params_t mine{0, nullptr, nullptr};
	assert_int_equal(evi_raise_event(id, &mine), 0);
	drain();
	assert_int_equal(got().size(), 3);
	evi_free_params(nullptr);
}

void newest_first_and_match(void **)
{
	event_id_t id = publish("E_M");
	assert_int_equal(subscribe("E_M", "t:a", 60, true), 0);
	assert_int_equal(subscribe("E_M", "t:b", 60, true), 0);
	assert_int_equal(subscribe("E_M", "n:c", 60, true), 0);
	assert_int_equal(subscribe("E_M", "t:a", 600, true), 0); // match: refresh
	auto st = shim::evi_subscriber_stats(id);
	assert_int_equal(st.size(), 3);
	assert_string_equal(st[0].socket.c_str(), "n:c");
	assert_string_equal(st[1].socket.c_str(), "t:b");
	assert_string_equal(st[2].socket.c_str(), "t:a");
	assert_int_equal(g_frees.load(), 1); // the duplicate's socket
	evi_raise_event(id, nullptr);
	drain();
	assert_int_equal(got().size(), 3);
}

void expiry_rules(void **)
{
	event_id_t id = publish("E_X");
	g_now = 1000;
	assert_int_equal(subscribe("E_X", "t:mi10", 10, true), 0);   // MI, 10 s
	assert_int_equal(subscribe("E_X", "t:mi0", 0, true), 0);     // MI unsubscribe
	assert_int_equal(subscribe("E_X", "t:script", 0, false), 0); // never
	assert_int_equal(subscribe("E_X", "n:noexp", 5, true), 0);   // transport: never
	assert_int_equal(subscribe("E_X", "t:script5", 5, false), 0); // script, 5 s
	auto socks = [&] {
		std::string r;
		for (auto &s : shim::evi_subscriber_stats(id)) r += s.socket + " ";
		return r;
	};
	// same second: everything alive (strict subscription_time + expire < now)
	evi_raise_event(id, nullptr);
	drain();
	assert_int_equal(got().size(), 5);
	g_now = 1001; // mi0 is now expired: purged by the raise
	evi_raise_event(id, nullptr);
	drain();
	assert_int_equal(got().size(), 9);
	assert_string_equal(socks().c_str(), "t:script5 n:noexp t:script t:mi10 ");
	g_now = 1005;
	evi_raise_event(id, nullptr);
	drain();
	assert_int_equal(got().size(), 13);
	g_now = 1006; // script5 gone
	shim::evi_purge_expired(); // the timer's purge, without a raise
	assert_string_equal(socks().c_str(), "n:noexp t:script t:mi10 ");
	g_now = 1010;
	shim::evi_purge_expired();
	assert_string_equal(socks().c_str(), "n:noexp t:script t:mi10 ");
	// refresh mi10 at 1010 with expire 3: lives through 1013
	assert_int_equal(subscribe("E_X", "t:mi10", 3, true), 0);
	g_now = 1013;
	shim::evi_purge_expired();
	assert_string_equal(socks().c_str(), "n:noexp t:script t:mi10 ");
	g_now = 1014;
	shim::evi_purge_expired();
	assert_string_equal(socks().c_str(), "n:noexp t:script ");
	// a script re-subscription without expire only refreshes the time
	assert_int_equal(subscribe("E_X", "t:script", 0, false), 0);
	g_now = 1000000;
	shim::evi_purge_expired();
	assert_string_equal(socks().c_str(), "n:noexp t:script ");
	// removed subscribers are freed by the sender once drained:
	// 3 expired + 1 duplicate from the refreshes above, + 1 more refresh
	drain();
	assert_int_equal(g_frees.load(), 5);
	assert_true(evi_probe_event(id) > 0);
	// an MI subscription turns an existing never-expiring one into expiring
	assert_int_equal(subscribe("E_X", "t:script", 0, true), 0);
	g_now++;
	shim::evi_purge_expired();
	assert_string_equal(socks().c_str(), "n:noexp ");
}

void queue_full_drops(void **)
{
	event_id_t id = publish("E_F");
	assert_int_equal(subscribe("E_F", "t:slow", 60, true), 0);
	int fails = 0;
	for (unsigned i = 0; i < shim::EVI_QUEUE_SIZE + 10; i++) {
		evi_params_p p = evi_get_params();
		int v = (int)i;
		evi_param_add_int(p, nullptr, &v);
		if (evi_raise_event(id, p) < 0) fails++;
	}
	assert_int_equal(fails, 10);
	auto st = shim::evi_subscriber_stats(id);
	assert_int_equal(st[0].dropped, 10);
	assert_int_equal(st[0].queued, shim::EVI_QUEUE_SIZE);
	assert_int_equal(drain(), shim::EVI_QUEUE_SIZE);
	auto g = got();
	assert_int_equal(g.size(), shim::EVI_QUEUE_SIZE);
	for (unsigned i = 0; i < g.size(); i++) // in order
		assert_string_equal(g[i].payload.c_str(),
		                    ("{\"jsonrpc\":\"2.0\",\"method\":\"E_F\",\"params\":[" +
		                     std::to_string(i) + "]}").c_str());
	st = shim::evi_subscriber_stats(id);
	assert_int_equal(st[0].delivered, shim::EVI_QUEUE_SIZE);
	assert_int_equal(st[0].queued, 0);
	// failures are counted apart
	g_fail = true;
	evi_raise_event(id, nullptr);
	drain();
	st = shim::evi_subscriber_stats(id);
	assert_int_equal(st[0].failed, 1);
	auto c = shim::evi_counters();
	bool found = false;
	for (auto &x : c)
		if (x.event == "E_F" && x.transport == "t") {
			found = true;
			assert_int_equal(x.delivered, shim::EVI_QUEUE_SIZE);
			assert_int_equal(x.dropped, 10);
			assert_int_equal(x.failed, 1);
		}
	assert_true(found);
	// counters survive the subscriber (monotonic)
	assert_int_equal(subscribe("E_F", "t:slow", 0, true), 0);
	g_now++;
	shim::evi_purge_expired();
	drain();
	c = shim::evi_counters();
	found = false;
	for (auto &x : c)
		if (x.event == "E_F" && x.transport == "t") {
			found = true;
			assert_int_equal(x.dropped, 10);
			assert_int_equal(x.failed, 1);
		}
	assert_true(found);
}

// Producers on several threads, a concurrent drainer: every subscriber
// sees each producer's events in that producer's order, nothing lost.
void concurrent_order(void **)
{
	event_id_t id = publish("E_C");
	assert_int_equal(subscribe("E_C", "t:one", 60, true), 0);
	assert_int_equal(subscribe("E_C", "t:two", 60, true), 0);
	const int P = 4, N = 800; // below the queue size with the drainer slow
	std::atomic<bool> done{false};
	std::thread drainer([&] {
		while (!done.load()) shim::evi_dispatch_pending(100);
	});
	std::vector<std::thread> th;
	for (int t = 0; t < P; t++)
		th.emplace_back([&, t] {
			for (int i = 0; i < N; i++) {
				evi_params_p p = evi_get_params();
				int a = t, b = i;
				evi_param_add_int(p, nullptr, &a);
				evi_param_add_int(p, nullptr, &b);
				evi_raise_event(id, p);
			}
		});
	for (auto &x : th) x.join();
	done = true;
	drainer.join();
	drain();
	auto g = got();
	assert_int_equal(g.size(), 2 * P * N);
	std::map<std::string, std::vector<int>> last;
	for (auto &d : g) {
		int t, i;
		assert_int_equal(sscanf(d.payload.c_str(),
		                        "{\"jsonrpc\":\"2.0\",\"method\":\"E_C\",\"params\":[%d,%d]}",
		                        &t, &i), 2);
		auto &v = last[d.socket];
		if (v.empty()) v.assign(P, -1);
		assert_int_equal(i, v[t] + 1);
		v[t] = i;
	}
	for (auto &st : shim::evi_subscriber_stats(id)) {
		assert_int_equal(st.delivered, P * N);
		assert_int_equal(st.dropped, 0);
	}
}

void nested_limit(void **)
{
	event_id_t id = publish("E_N");
	assert_int_equal(subscribe("E_N", "t:a", 60, true), 0);
	shim::evi::t_raise_level = shim::EVI_MAX_REC_LEV - 1;
	assert_int_equal(evi_raise_event(id, nullptr), 0); // level 100: allowed
	shim::evi::t_raise_level = shim::EVI_MAX_REC_LEV;
	assert_int_equal(evi_raise_event(id, evi_get_params()), -1); // 101
	shim::evi::t_raise_level = 0;
	assert_int_equal(drain(), 1);
}

} // namespace

// A v2 transport "b": records each run's size, and answers per event what
// g_plan says (cycled): delivered, failed, dropped, or later through a
// ticket that the test settles afterwards, from another thread.
std::vector<size_t> g_runs;
std::vector<int> g_plan;
std::vector<evi_ticket *> g_tickets;
size_t g_next = 0;
int b_raise(evi_delivery *d)
{
	assert_int_equal(d->size, sizeof(evi_delivery));
	g_runs.push_back((size_t)d->count);
	for (int i = 0; i < d->count; i++) {
		char buf[512];
		int n = evi_build_payload(d->events[i].params, d->events[i].name, 0, nullptr,
		                          nullptr, buf, sizeof(buf));
		assert_true(n > 0);
		{
			std::lock_guard<std::mutex> lk(g_mu);
			g_got.push_back({((tsock *)d->sock)->addr, std::string(buf, (size_t)n)});
		}
		int o = g_plan.empty() ? EVI_OUTCOME_DELIVERED : g_plan[g_next++ % g_plan.size()];
		if (o == EVI_OUTCOME_LATER) {
			evi_ticket *t = d->ticket(d, i);
			assert_non_null(t);
			assert_int_equal(t->size, sizeof(evi_ticket));
			g_tickets.push_back(t);
		}
		d->outcomes[i] = o;
	}
	return 0;
}

shim::evi_subscriber_stat stat_of(event_id_t id, const char *socket)
{
	for (auto &st : shim::evi_subscriber_stats(id))
		if (st.socket == socket)
			return st;
	return {};
}

void batched_delivery(void **)
{
	static evi_export_t b = {sizeof(evi_export_t), {(char *)"b", 1}, b_raise, t_parse,
	                         t_match, t_free, t_print, 0, nullptr};
	assert_int_equal(register_event_mod(&b), 0);
	event_id_t id = publish("E_BATCH");
	assert_int_equal(subscribe("E_BATCH", "b:one", 60, true), 0);
	assert_int_equal(subscribe("E_BATCH", "t:two", 60, true), 0);
	g_runs.clear();
	g_plan.clear();
	for (int i = 0; i < 150; i++) {
		evi_params_p p = evi_get_params();
		evi_param_add_int(p, nullptr, &i);
		assert_int_equal(evi_raise_event(id, p), 0);
	}
	assert_int_equal(drain(), 300);
	// one call per run of at most 64 events of one subscriber, in order
	assert_int_equal(g_runs.size(), 3);
	assert_int_equal(g_runs[0], 64);
	assert_int_equal(g_runs[1], 64);
	assert_int_equal(g_runs[2], 22);
	std::vector<std::string> one, two;
	for (auto &d : got()) (d.socket == "one" ? one : two).push_back(d.payload);
	assert_int_equal(one.size(), 150);
	assert_int_equal(two.size(), 150);
	for (int i = 0; i < 150; i++)
		assert_string_equal(one[(size_t)i].c_str(),
		                    ("{\"jsonrpc\":\"2.0\",\"method\":\"E_BATCH\",\"params\":[" +
		                     std::to_string(i) + "]}").c_str());
	assert_int_equal(stat_of(id, "b:one").delivered, 150);
	// per-event outcomes: failed and dropped counted as such, later ones
	// in flight until their tickets settle, from any thread
	g_plan = {EVI_OUTCOME_DELIVERED, EVI_OUTCOME_FAILED, EVI_OUTCOME_DROPPED,
	          EVI_OUTCOME_LATER};
	g_next = 0;
	for (int i = 0; i < 8; i++) evi_raise_event(id, nullptr);
	drain();
	auto st = stat_of(id, "b:one");
	assert_int_equal(st.delivered, 152);
	assert_int_equal(st.failed, 2);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.inflight, 2);
	assert_int_equal(g_tickets.size(), 2);
	std::thread([] {
		g_tickets[0]->settle(g_tickets[0], EVI_OUTCOME_DELIVERED);
		g_tickets[1]->settle(g_tickets[1], EVI_OUTCOME_FAILED);
	}).join();
	g_tickets.clear();
	st = stat_of(id, "b:one");
	assert_int_equal(st.delivered, 153);
	assert_int_equal(st.failed, 3);
	assert_int_equal(st.inflight, 0);
	// a ticket settled after its subscriber is gone still counts (totals
	// per event and transport)
	g_plan = {EVI_OUTCOME_LATER};
	evi_raise_event(id, nullptr);
	drain();
	assert_int_equal(g_tickets.size(), 1);
	assert_int_equal(subscribe("E_BATCH", "b:one", 0, true), 0); // unsubscribe
	drain();
	g_tickets[0]->settle(g_tickets[0], EVI_OUTCOME_DELIVERED);
	g_tickets.clear();
	unsigned long long total = 0;
	for (auto &c : shim::evi_counters())
		if (c.event == "E_BATCH" && c.transport == "b")
			total = c.delivered;
	assert_int_equal(total, 154);
	g_plan.clear();
}

void wrong_abi_refused(void **)
{
	// a transport built against another evi_export_t layout
	static evi_export_t old = {sizeof(evi_export_t) - 8, {(char *)"old", 3}, b_raise,
	                           t_parse, t_match, t_free, t_print, 0, nullptr};
	assert_int_equal(register_event_mod(&old), -1);
}

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(publish_ids, setup),
	    cmocka_unit_test_setup(probe, setup),
	    cmocka_unit_test_setup(subscribe_errors, setup),
	    cmocka_unit_test_setup(params_and_delivery, setup),
	    cmocka_unit_test_setup(newest_first_and_match, setup),
	    cmocka_unit_test_setup(expiry_rules, setup),
	    cmocka_unit_test_setup(queue_full_drops, setup),
	    cmocka_unit_test_setup(batched_delivery, setup),
	    cmocka_unit_test_setup(wrong_abi_refused, setup),
	    cmocka_unit_test_setup(concurrent_order, setup),
	    cmocka_unit_test_setup(nested_limit, setup),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
