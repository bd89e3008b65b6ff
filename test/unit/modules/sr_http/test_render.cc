// sr_http's renderers: /readyz decisions and text, percent-decoding and
// query parsing. (/metrics is the prometheus module's: test/unit/modules/
// prometheus/.)
#include <cstring>
#include <string>
#include <vector>

#include "../../../../modules/sr_http/render.h"

#include "../../cmocka_cxx.h" // last

using namespace srh;

namespace {

std::vector<sr_entry> entries(int app_status, const char *details = nullptr)
{
	std::vector<sr_entry> v;
	v.push_back({"sr_http", "main", 1, true, "serving"});
	sr_entry a{"app", "main", app_status, details != nullptr, details ? details : ""};
	v.push_back(a);
	v.push_back({"app", "UDP/udp:1.2.3.4:5060", 1, false, ""});
	v.push_back({"core", "main", 1, true, "running"});
	return v;
}

void test_readyz_all(void **)
{
	readyz_opts o;
	http_text t = render_readyz(entries(1), {}, host_state{}, o);
	assert_int_equal(t.status, 200);
	assert_string_equal(t.body.c_str(), "ok\n");
	o.verbose = true;
	t = render_readyz(entries(1), {}, host_state{}, o);
	assert_string_equal(t.body.c_str(),
	                    "[+]core/main ok\n[+]app/main ok\n[+]app/UDP/udp:1.2.3.4:5060 ok\n"
	                    "[+]drain ok\nreadyz check passed\n");
	t = render_readyz(entries(-3, "app\ndegraded"), {}, host_state{}, o);
	assert_int_equal(t.status, 503);
	assert_string_equal(t.body.c_str(),
	                    "[+]core/main ok\n[-]app/main status=-3 details=app degraded\n"
	                    "[+]app/UDP/udp:1.2.3.4:5060 ok\n[+]drain ok\nreadyz check failed\n");
	// not verbose: only the failures
	o.verbose = false;
	t = render_readyz(entries(0), {}, host_state{}, o);
	assert_string_equal(t.body.c_str(), "[-]app/main status=0\nreadyz check failed\n");
}

void test_readyz_groups_exclude_drain(void **)
{
	readyz_opts o;
	// ready_groups without app: app is not checked
	http_text t = render_readyz(entries(-1), {"core"}, host_state{}, o);
	assert_int_equal(t.status, 200);
	o.exclude.push_back("app");
	t = render_readyz(entries(-1), {}, host_state{}, o);
	assert_int_equal(t.status, 200);
	host_state st;
	st.draining = true;
	st.drain_since = 0;
	o.verbose = true;
	t = render_readyz(entries(1), {}, st, o);
	assert_int_equal(t.status, 503);
	assert_non_null(strstr(t.body.c_str(),
	                       "[-]drain draining since 1970-01-01T00:00:00Z"));
	// core must be exactly 1
	auto v = entries(1);
	v[3].status = 2;
	t = render_readyz(v, {}, host_state{}, readyz_opts{});
	assert_int_equal(t.status, 503);
	host_state term;
	term.terminating = true;
	t = render_readyz(entries(1), {}, term, readyz_opts{});
	assert_int_equal(t.status, 503);
}

void test_readyz_one(void **)
{
	readyz_opts o;
	assert_true(parse_readyz_subpath("app/UDP%2Fudp:1.2.3.4:5060", o));
	assert_string_equal(o.group.c_str(), "app");
	assert_string_equal(o.identifier.c_str(), "UDP/udp:1.2.3.4:5060");
	http_text t = render_readyz(entries(-1), {}, host_state{}, o);
	assert_int_equal(t.status, 200);
	readyz_opts o2;
	assert_true(parse_readyz_subpath("app/UDP/udp:1.2.3.4:5060", o2)); // split at first '/'
	assert_string_equal(o2.identifier.c_str(), "UDP/udp:1.2.3.4:5060");
	readyz_opts o3;
	assert_true(parse_readyz_subpath("app", o3));
	assert_int_equal(render_readyz(entries(-1), {}, host_state{}, o3).status, 503);
	readyz_opts o4;
	assert_true(parse_readyz_subpath("nope", o4));
	assert_int_equal(render_readyz(entries(1), {}, host_state{}, o4).status, 404);
	readyz_opts o5;
	assert_true(parse_readyz_subpath("app/nope", o5));
	assert_int_equal(render_readyz(entries(1), {}, host_state{}, o5).status, 404);
	readyz_opts o6;
	assert_false(parse_readyz_subpath("a%zz", o6));
}

void test_query(void **)
{
	readyz_opts o;
	assert_true(parse_readyz_query("verbose&exclude=app&exclude=my+group&exclude=%63ore", o));
	assert_true(o.verbose);
	assert_int_equal(o.exclude.size(), 3);
	assert_string_equal(o.exclude[1].c_str(), "my group");
	assert_string_equal(o.exclude[2].c_str(), "core");
	readyz_opts p;
	assert_false(parse_readyz_query("exclude=%4", p));
	std::string out;
	assert_true(percent_decode("a%2Fb+c", false, out));
	assert_string_equal(out.c_str(), "a/b+c");
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readyz_all),
		cmocka_unit_test(test_readyz_groups_exclude_drain),
		cmocka_unit_test(test_readyz_one),
		cmocka_unit_test(test_query),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
