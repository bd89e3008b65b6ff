// evi_build_payload (spec §2.6): the reference payload strings byte for
// byte, the rendering rules, and equivalence with jansson on random
// parameter lists.
#include <jansson.h>
#include <string.h>
#include <time.h>

#include <chrono>
#include <deque>
#include <random>
#include <string>

#include "opensips/evi.h"
#include "opensips/evi_transport.h"

#include "../cmocka_cxx.h"

namespace {

// A parameter list on the stack-side storage (no EVI_FREE_LIST).
struct plist {
	evi_params_t l{0, nullptr, nullptr};
	std::deque<evi_param_t> ps;
	std::deque<std::string> store;
	str mk(const std::string &s)
	{
		store.push_back(s);
		return str{store.back().data(), (int)store.back().size()};
	}
	evi_param_t &add(const char *name)
	{
		ps.push_back(evi_param_t{});
		evi_param_t &p = ps.back();
		p.name = name ? mk(name) : str{nullptr, 0};
		p.next = nullptr;
		if (l.last) l.last->next = &p;
		else l.first = &p;
		l.last = &p;
		return p;
	}
	plist &i(const char *name, int v)
	{
		evi_param_t &p = add(name);
		p.flags = EVI_INT_VAL;
		p.val.n = v;
		return *this;
	}
	plist &s(const char *name, const std::string &v)
	{
		evi_param_t &p = add(name);
		p.flags = EVI_STR_VAL;
		p.val.s = mk(v);
		return *this;
	}
	plist &null(const char *name)
	{
		evi_param_t &p = add(name);
		p.flags = EVI_STR_VAL;
		p.val.s = str{nullptr, 0};
		return *this;
	}
	plist &reset(const char *name)
	{
		evi_param_t &p = add(name);
		p.flags = 0;
		return *this;
	}
};

std::string build(const evi_params_t *l, const char *method, int id = 0,
                  const char *extra = nullptr, const char *ev = nullptr)
{
	char buf[65536];
	str m{const_cast<char *>(method), (int)strlen(method)};
	str x{const_cast<char *>(extra), extra ? (int)strlen(extra) : 0};
	str e{const_cast<char *>(ev ? ev : method), (int)strlen(ev ? ev : method)};
	int n = evi_build_payload(l, &m, id, extra ? &x : nullptr, &e, buf, sizeof(buf));
	assert_true(n >= 0);
	return std::string(buf, (size_t)n);
}

void reference_payloads(void **)
{
	plist a;
	a.s("group", "ref_app").s("identifier", "main").i("status", -3)
	    .s("details", "app degraded").i("old_status", 1);
	assert_string_equal(
	    build(&a.l, "E_CORE_SR_STATUS_CHANGED").c_str(),
	    "{\"jsonrpc\":\"2.0\",\"method\":\"E_CORE_SR_STATUS_CHANGED\",\"params\":"
	    "{\"group\":\"ref_app\",\"identifier\":\"main\",\"status\":-3,\"details\":"
	    "\"app degraded\",\"old_status\":1}}");
	assert_string_equal(build(nullptr, "E_REF_SCRIPT").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"E_REF_SCRIPT\"}");
	plist empty;
	assert_string_equal(build(&empty.l, "E_REF_SCRIPT").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"E_REF_SCRIPT\"}");
	plist b;
	b.s("", "one").s("", "2").s("", "3");
	assert_string_equal(build(&b.l, "E_REF_SCRIPT").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"E_REF_SCRIPT\",\"params\":"
	                    "{\"\":\"one\",\"\":\"2\",\"\":\"3\"}}");
	plist c;
	c.s("source", "msg processing").i("time", 121013)
	    .s("extra", "OPTIONS sip:slow@127.0.0.1:5060 SIP/2.0\r\nVia: x\r\n\r\n");
	assert_string_equal(
	    build(&c.l, "E_CORE_THRESHOLD").c_str(),
	    "{\"jsonrpc\":\"2.0\",\"method\":\"E_CORE_THRESHOLD\",\"params\":{\"source\":"
	    "\"msg processing\",\"time\":121013,\"extra\":\"OPTIONS sip:slow@127.0.0.1:"
	    "5060 SIP/2.0\\r\\nVia: x\\r\\n\\r\\n\"}}");
	plist d;
	d.s("b", "two").s("a", "1");
	assert_string_equal(build(&d.l, "E_REF_SCRIPT").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"E_REF_SCRIPT\",\"params\":"
	                    "{\"b\":\"two\",\"a\":\"1\"}}");
}

void rules(void **)
{
	// array when the first parameter has no name; reset skipped; NULL str
	plist a;
	a.i(nullptr, 1).reset(nullptr).null(nullptr).s(nullptr, "x");
	assert_string_equal(build(&a.l, "M").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"M\",\"params\":[1,null,\"x\"]}");
	// id first, extra param first (object and array)
	plist b;
	b.s("k", "v");
	assert_string_equal(build(&b.l, "meth", 7, "event", "E_X").c_str(),
	                    "{\"id\":7,\"jsonrpc\":\"2.0\",\"method\":\"meth\",\"params\":"
	                    "{\"event\":\"E_X\",\"k\":\"v\"}}");
	assert_string_equal(build(&a.l, "m", 0, "event", "E_X").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":"
	                    "[\"E_X\",1,null,\"x\"]}");
	// no params: no extra param either
	assert_string_equal(build(nullptr, "m", -5, "event", "E_X").c_str(),
	                    "{\"id\":-5,\"jsonrpc\":\"2.0\",\"method\":\"m\"}");
	// the first param decides even when it is reset
	plist c;
	c.reset("n").i(nullptr, 3);
	assert_string_equal(build(&c.l, "m").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"\":3}}");
	// escaping as the MI printer
	plist e;
	e.s("q\"\\/", std::string("a\b\f\n\r\t\x01\x1f/\xc3\xa9", 11));
	assert_string_equal(build(&e.l, "m").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"q\\\"\\\\/\":"
	                    "\"a\\b\\f\\n\\r\\t\\u0001\\u001f/\xc3\xa9\"}}");
	// NUL inside a string
	plist z;
	z.s("z", std::string("a\0b", 3));
	assert_string_equal(build(&z.l, "m").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"z\":\"a\\u0000b\"}}");
	// INT_MIN / INT_MAX
	plist n;
	n.i("a", -2147483647 - 1).i("b", 2147483647).i("c", 0);
	assert_string_equal(build(&n.l, "m").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":"
	                    "{\"a\":-2147483648,\"b\":2147483647,\"c\":0}}");
}

void too_small(void **)
{
	plist a;
	a.s("k", "value");
	str m{const_cast<char *>("m"), 1};
	char buf[256];
	int full = evi_build_payload(&a.l, &m, 0, nullptr, &m, buf, sizeof(buf));
	assert_true(full > 0);
	for (int size = 0; size < full; size++)
		assert_int_equal(evi_build_payload(&a.l, &m, 0, nullptr, &m, buf, size), -1);
	assert_int_equal(evi_build_payload(&a.l, &m, 0, nullptr, &m, buf, full), full);
}

// ---- jansson oracle ----

std::string dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	std::string r = s ? s : "";
	free(s);
	return r;
}

std::string rand_text(std::mt19937 &rng)
{
	static const char *pieces[] = {"a", "Z", "0", " ", "\"", "\\", "/", "\n",
	                               "\t", "\x01", "\x1f", "\x7f", "\xc3\xa9",
	                               "\xe2\x82\xac", "{", "}", ":", ","};
	std::string s;
	int n = (int)(rng() % 12);
	for (int i = 0; i < n; i++) s += pieces[rng() % (sizeof(pieces) / sizeof(*pieces))];
	return s;
}

void random_equivalence(void **)
{
	std::mt19937 rng(12345);
	for (int round = 0; round < 3000; round++) {
		plist l;
		int n = (int)(rng() % 8);
		bool named = rng() % 2;
		bool with_id = rng() % 4 == 0;
		bool extra = rng() % 4 == 0;
		int id = with_id ? (int)(rng() % 100000) + 1 : 0;
		json_t *params = named ? json_object() : json_array();
		if (extra && n > 0) {
			if (named) json_object_set_new(params, "evp", json_string("E_RND"));
			else json_array_append_new(params, json_string("E_RND"));
		}
		for (int i = 0; i < n; i++) {
			// unique names (jansson objects cannot hold duplicates)
			std::string name = rand_text(rng) + "#" + std::to_string(i);
			const char *nm = named ? name.c_str() : nullptr;
			int kind = (int)(rng() % 4);
			json_t *v = nullptr;
			if (kind == 0) {
				int x = (int)rng();
				l.i(nm, x);
				v = json_integer(x);
			} else if (kind == 1) {
				std::string t = rand_text(rng);
				l.s(nm, t);
				v = json_stringn(t.data(), t.size());
			} else if (kind == 2) {
				l.null(nm);
				v = json_null();
			} else {
				l.reset(nm);
			}
			if (!v) continue;
			if (named) json_object_set_new(params, name.c_str(), v);
			else json_array_append_new(params, v);
		}
		json_t *doc = json_object();
		if (id) json_object_set_new(doc, "id", json_integer(id));
		json_object_set_new(doc, "jsonrpc", json_string("2.0"));
		json_object_set_new(doc, "method", json_string("E_RND"));
		if (n > 0) json_object_set_new(doc, "params", params);
		else json_decref(params);
		std::string ours = build(&l.l, "E_RND", id, extra ? "evp" : nullptr, "E_RND");
		json_error_t err;
		json_t *parsed = json_loadb(ours.data(), ours.size(), 0, &err);
		if (!parsed) fprintf(stderr, "unparsable: %s (%s)\n", ours.c_str(), err.text);
		assert_non_null(parsed);
		std::string a = dump(parsed), b = dump(doc);
		if (a != b) fprintf(stderr, "ours %s\nwant %s\n", a.c_str(), b.c_str());
		assert_string_equal(a.c_str(), b.c_str());
		json_decref(parsed);
		json_decref(doc);
	}
}

// Duplicate keys: jansson keeps one, so compare the member list ourselves.
void duplicate_keys(void **)
{
	plist l;
	l.s("", "one").s("", "2").i("", 3);
	std::string ours = build(&l.l, "E");
	assert_string_equal(ours.c_str(), "{\"jsonrpc\":\"2.0\",\"method\":\"E\",\"params\":"
	                                  "{\"\":\"one\",\"\":\"2\",\"\":3}}");
	json_error_t err;
	json_t *parsed = json_loadb(ours.data(), ours.size(), 0, &err);
	assert_non_null(parsed); // valid JSON (jansson keeps the last duplicate)
	json_t *p = json_object_get(parsed, "params");
	assert_int_equal(json_integer_value(json_object_get(p, "")), 3);
	json_decref(parsed);
}

void speed(void **)
{
	plist l;
	l.s("group", "ref_app").s("identifier", "main").i("status", -3)
	    .s("details", "app degraded, a rather longer text for the test")
	    .i("old_status", 1).s("extra", "0123456789012345678901234567890123456789");
	char buf[1024];
	str m{const_cast<char *>("E_CORE_SR_STATUS_CHANGED"), 24};
	int len = evi_build_payload(&l.l, &m, 0, nullptr, &m, buf, sizeof(buf));
	assert_true(len > 180);
	const int N = 200000;
	auto t0 = std::chrono::steady_clock::now();
	for (int i = 0; i < N; i++) evi_build_payload(&l.l, &m, 0, nullptr, &m, buf, sizeof(buf));
	double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / N;
	fprintf(stderr, "evi_build_payload: %d bytes in %.0f ns\n", len, ns);
	// 1 µs is the target; allow slack for sanitizer builds / loaded hosts
	assert_true(ns < 5000);
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reference_payloads), cmocka_unit_test(rules),
	    cmocka_unit_test(too_small),          cmocka_unit_test(random_equivalence),
	    cmocka_unit_test(duplicate_keys),     cmocka_unit_test(speed),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
