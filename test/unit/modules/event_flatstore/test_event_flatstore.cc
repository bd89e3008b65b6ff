// event_flatstore: socket validation, the line format (spec §2.6, trap 13,
// the reference line), writing through raise, rotation by count, size,
// period and MI, write errors, and E_FLATSTORE_ROTATION through the host's
// EVI core.
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "evi/evi_core.h"
#include "mi/mi_core.h"
#include "opensips/evi.h"
#include "opensips/evi_transport.h"
#include "opensips/mi.h"
#include "opensips/sr_module.h"

#include "../../../../modules/event_flatstore/flatstore.h"
#include "../event_datagram/params_util.h"

#include "../evi_delivery.h"

#include "../../cmocka_cxx.h" // last

extern "C" struct module_exports exports;

namespace {

std::string g_dir;

str S(const std::string &s) { return str{(char *)s.data(), (int)s.size()}; }

std::string slurp(const std::string &path)
{
	FILE *f = fopen(path.c_str(), "r");
	if (!f)
		return "<missing>";
	std::string out;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		out.append(buf, n);
	fclose(f);
	return out;
}

std::vector<std::string> files_starting(const std::string &prefix)
{
	std::vector<std::string> out;
	DIR *d = opendir(g_dir.c_str());
	while (struct dirent *e = readdir(d)) {
		std::string n = e->d_name;
		if (n.rfind(prefix, 0) == 0)
			out.push_back(g_dir + "/" + n);
	}
	closedir(d);
	std::sort(out.begin(), out.end());
	return out;
}

// Resets the modparams to their defaults and re-validates them.
void defaults()
{
	evflat::max_open_sockets = 100;
	evflat::delimiter = nullptr;
	evflat::escape_delimiter = nullptr;
	evflat::file_permissions = nullptr;
	evflat::suppress_event_name = 0;
	evflat::rotate_period = 0;
	evflat::rotate_count = 0;
	evflat::rotate_size = 0;
	evflat::suffix = nullptr;
	assert_int_equal(evflat::init_config(), 0);
}

std::string mi(const std::string &req)
{
	char *reply = nullptr;
	int len = 0;
	int rc = mi_run_jsonrpc(req.data(), (int)req.size(), 0, "test", &reply, &len);
	std::string out = rc == MI_RUN_REPLY && reply ? std::string(reply, (size_t)len) : "<none>";
	mi_free_reply(reply);
	return out;
}

int setup(void **)
{
	char tmpl[] = "/tmp/ev_flat_test.XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	g_dir = tmpl;
	umask(022);
	shim::evi_reset();
	shim::mi_reset();
	if (exports.init_f() != 0)
		return -1;
	return register_mi_mod("event_flatstore", exports.mi_cmds) == 0 ? 0 : -1;
}

int teardown(void **)
{
	exports.destroy_f();
	shim::evi_reset();
	std::string cmd = "rm -rf " + g_dir;
	return system(cmd.c_str()) == 0 ? 0 : -1;
}

void test_parse(void **)
{
	defaults();
	std::string p = g_dir + "/a.log";
	evi_reply_sock *a = evflat::parse(S(p));
	assert_non_null(a);
	assert_true(a->flags & EVI_EXPIRE);
	str pr = evflat::print(a);
	assert_string_equal(std::string(pr.s, (size_t)pr.len).c_str(), p.c_str());
	evi_reply_sock *b = evflat::parse(S(p));
	std::string q = g_dir + "/b.log";
	evi_reply_sock *c = evflat::parse(S(q));
	assert_int_equal(evflat::match(a, b), 1);
	assert_int_equal(evflat::match(a, c), 0);
	assert_int_equal(evflat::open_files(), 2); // a and b share one file
	// the directory must exist, the path must not be a directory
	assert_null(evflat::parse(S(g_dir + "/nodir/x.log")));
	assert_null(evflat::parse(S(g_dir)));
	assert_null(evflat::parse(S(g_dir + "/")));
	assert_null(evflat::parse(S(std::string(""))));
	// max_open_sockets counts distinct files
	evflat::max_open_sockets = 2;
	assert_null(evflat::parse(S(g_dir + "/c.log")));
	evi_reply_sock *again = evflat::parse(S(q));
	assert_non_null(again);
	for (auto *x : {a, b, c, again})
		evflat::free_sock(x);
	assert_int_equal(evflat::open_files(), 0);
	evflat::max_open_sockets = 100;
}

void test_modparams(void **)
{
	assert_int_equal(evflat::parse_size("10"), 10);
	assert_int_equal(evflat::parse_size("1k"), 1024);
	assert_int_equal(evflat::parse_size("2M"), 2 << 20);
	assert_int_equal(evflat::parse_size("1g"), 1LL << 30);
	assert_int_equal(evflat::parse_size("1x"), -1);
	assert_int_equal(evflat::parse_size("k"), -1);
	assert_int_equal(evflat::parse_size(""), -1);
	assert_int_equal(evflat::set_rotate_count(STR_PARAM, (void *)"8589934592"), 0);
	assert_true(evflat::rotate_count == 8589934592ULL); // above 32 bits
	assert_int_equal(evflat::set_rotate_count(INT_PARAM, (void *)(long)5), 0);
	assert_true(evflat::rotate_count == 5);
	assert_true(evflat::set_rotate_count(STR_PARAM, (void *)"5x") < 0);
	assert_int_equal(evflat::set_rotate_size(STR_PARAM, (void *)"4k"), 0);
	assert_true(evflat::rotate_size == 4096);
	char bad_perm[] = "9z";
	evflat::file_permissions = bad_perm;
	assert_true(evflat::init_config() < 0);
	char two[] = "||", one[] = "x";
	evflat::file_permissions = nullptr;
	evflat::delimiter = two;
	evflat::escape_delimiter = one; // must have the delimiter's length
	assert_true(evflat::init_config() < 0);
	evflat::max_open_sockets = 0; // out of range: back to 100
	evflat::delimiter = nullptr;
	evflat::escape_delimiter = nullptr;
	assert_int_equal(evflat::init_config(), 0);
	assert_int_equal(evflat::max_open_sockets, 100);
	defaults();
}

void test_line_format(void **)
{
	defaults();
	str ev = str_init("E_REF_SCRIPT");
	test_params ref;
	ref.str_("k", "v").int_("n", 7);
	assert_string_equal(evflat::line_text(&ev, ref.get()).c_str(), "E_REF_SCRIPT,v,7\n");

	// every delimiter byte in a string becomes a space; ints are decimal
	test_params d;
	d.str_("a", "x,y,,z").int_("b", -12);
	assert_string_equal(evflat::line_text(&ev, d.get()).c_str(), "E_REF_SCRIPT,x y  z,-12\n");

	// empty strings and parameters without a value leave empty columns;
	// names are never written
	test_params e;
	e.str_("a", "").none("b").int_(nullptr, 0).str_(nullptr, "q");
	assert_string_equal(evflat::line_text(&ev, e.get()).c_str(), "E_REF_SCRIPT,,,0,q\n");

	// no parameters
	test_params none;
	assert_string_equal(evflat::line_text(&ev, none.get()).c_str(), "E_REF_SCRIPT\n");
	assert_string_equal(evflat::line_text(&ev, nullptr).c_str(), "E_REF_SCRIPT\n");

	// suppress_event_name: no leading delimiter
	evflat::suppress_event_name = 1;
	assert_string_equal(evflat::line_text(&ev, ref.get()).c_str(), "v,7\n");
	assert_string_equal(evflat::line_text(&ev, e.get()).c_str(), ",,0,q\n");
	assert_string_equal(evflat::line_text(&ev, none.get()).c_str(), "\n");
	evflat::suppress_event_name = 0;

	// a two-byte delimiter: only its first byte is replaced, so
	// escape_delimiter never has anything left to do
	char delim[] = "|;", esc[] = "__";
	evflat::delimiter = delim;
	evflat::escape_delimiter = esc;
	assert_int_equal(evflat::init_config(), 0);
	test_params m;
	m.str_("a", "a|;b;c|").int_("b", 3);
	assert_string_equal(evflat::line_text(&ev, m.get()).c_str(), "E_REF_SCRIPT|;a ;b;c |;3\n");
	defaults();
}

void test_raise_writes(void **)
{
	defaults();
	char perm[] = "600";
	evflat::file_permissions = perm;
	assert_int_equal(evflat::init_config(), 0);
	std::string p = g_dir + "/ev_flat.log";
	evi_reply_sock *s = evflat::parse(S(p));
	assert_non_null(s);
	str ev = str_init("E_REF_SCRIPT");
	test_params ref;
	ref.str_("k", "v").int_("n", 7);
	assert_int_equal(raise1(evflat::raise, s, &ev, ref.get()), 0);
	assert_string_equal(slurp(p).c_str(), "E_REF_SCRIPT,v,7\n");
	struct stat st;
	assert_int_equal(stat(p.c_str(), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	// appends; the file is shared with a second subscription of the path
	evi_reply_sock *s2 = evflat::parse(S(p));
	test_params two;
	two.str_("a", "b");
	assert_int_equal(raise1(evflat::raise, s2, &ev, two.get()), 0);
	assert_string_equal(slurp(p).c_str(), "E_REF_SCRIPT,v,7\nE_REF_SCRIPT,b\n");
	evflat::free_sock(s2);
	evflat::free_sock(s);
	defaults();
}

void test_rotate_count_and_size(void **)
{
	defaults();
	evflat::rotate_count = 2;
	std::string p = g_dir + "/cnt.log";
	evi_reply_sock *s = evflat::parse(S(p));
	str ev = str_init("E_C");
	test_params a;
	a.int_("i", 1);
	for (int i = 0; i < 5; i++)
		assert_int_equal(raise1(evflat::raise, s, &ev, a.get()), 0);
	// two full files moved aside, one line in the live file
	auto all = files_starting("cnt.log");
	assert_int_equal(all.size(), 3);
	assert_string_equal(slurp(p).c_str(), "E_C,1\n");
	for (auto &f : all)
		if (f != p)
			assert_string_equal(slurp(f).c_str(), "E_C,1\nE_C,1\n");
	evflat::free_sock(s);

	defaults();
	evflat::rotate_size = 20; // bytes
	std::string q = g_dir + "/size.log";
	s = evflat::parse(S(q));
	test_params b;
	b.str_("x", "0123456789"); // "E_C,0123456789\n" = 15 bytes
	assert_int_equal(raise1(evflat::raise, s, &ev, b.get()), 0);
	assert_int_equal(files_starting("size.log").size(), 1);
	assert_int_equal(raise1(evflat::raise, s, &ev, b.get()), 0); // 30 >= 20
	assert_int_equal(files_starting("size.log").size(), 2);
	assert_string_equal(slurp(q).c_str(), "");
	evflat::free_sock(s);
	defaults();
}

void test_rotate_period_and_suffix(void **)
{
	defaults();
	char sfx[] = ".$Ts";
	evflat::suffix = sfx;
	evflat::rotate_period = 10;
	std::string p = g_dir + "/per.log";
	evi_reply_sock *s = evflat::parse(S(p));
	str ev = str_init("E_P");
	assert_int_equal(raise1(evflat::raise, s, &ev, nullptr), 0);
	auto f = evflat::find_file(p);
	assert_non_null(f.get());
	std::string first = f->filename;
	assert_true(first.rfind(p + ".", 0) == 0); // path + expanded suffix
	evflat::period_check(1001); // not a multiple of 10: nothing
	assert_string_equal(f->filename.c_str(), first.c_str());
	evflat::period_check(1000); // reopens under the name of "now"
	assert_true(f->fd >= 0);
	assert_string_equal(evflat::expand_name(p, 1234).c_str(), (p + ".1234").c_str());
	char tsfx[] = "-$time(%Y)x";
	evflat::suffix = tsfx;
	time_t now = time(nullptr);
	struct tm tm;
	localtime_r(&now, &tm);
	assert_string_equal(evflat::expand_name(p, now).c_str(),
	                    (p + "-" + std::to_string(tm.tm_year + 1900) + "x").c_str());
	f.reset();
	evflat::free_sock(s);
	defaults();
}

void test_mi_rotate(void **)
{
	defaults();
	std::string p = g_dir + "/mi.log";
	evi_reply_sock *s = evflat::parse(S(p));
	str ev = str_init("E_M");
	assert_int_equal(raise1(evflat::raise, s, &ev, nullptr), 0);
	// logrotate moves the file away, then asks us to reopen
	std::string moved = g_dir + "/mi.log.1";
	assert_int_equal(rename(p.c_str(), moved.c_str()), 0);
	assert_string_equal(mi("{\"jsonrpc\":\"2.0\",\"method\":\"event_flatstore:rotate\",\"params\":{\"path_to_file\":\"" + p + "\"},\"id\":1}").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"result\":\"OK\",\"id\":1}");
	assert_int_equal(raise1(evflat::raise, s, &ev, nullptr), 0);
	assert_string_equal(slurp(moved).c_str(), "E_M\n");
	assert_string_equal(slurp(p).c_str(), "E_M\n");
	// the 3.x alias, positional
	assert_string_equal(mi("{\"jsonrpc\":\"2.0\",\"method\":\"evi_flat_rotate\",\"params\":[\"" + p + "\"],\"id\":2}").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"result\":\"OK\",\"id\":2}");
	// only an exactly subscribed path
	assert_string_equal(mi("{\"jsonrpc\":\"2.0\",\"method\":\"event_flatstore:rotate\",\"params\":[\"" + p + "x\"],\"id\":3}").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":400,\"message\":\"File not found\"},\"id\":3}");
	evflat::free_sock(s);
	assert_string_equal(mi("{\"jsonrpc\":\"2.0\",\"method\":\"event_flatstore:rotate\",\"params\":[\"" + p + "\"],\"id\":4}").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":400,\"message\":\"File not found\"},\"id\":4}");
}

void test_write_errors(void **)
{
	defaults();
	str ev = str_init("E_W");
	test_params a;
	a.str_("x", "y");
	// disk full
	evi_reply_sock *full = evflat::parse(S(std::string("/dev/full")));
	assert_non_null(full);
	assert_true(raise1(evflat::raise, full, &ev, a.get()) < 0);
	assert_true(raise1(evflat::raise, full, &ev, a.get()) < 0);
	evflat::free_sock(full);
	// the directory vanishes after the subscription, then comes back
	std::string dir = g_dir + "/sub";
	assert_int_equal(mkdir(dir.c_str(), 0755), 0);
	std::string p = dir + "/x.log";
	evi_reply_sock *s = evflat::parse(S(p));
	assert_non_null(s);
	assert_int_equal(rmdir(dir.c_str()), 0);
	assert_true(raise1(evflat::raise, s, &ev, a.get()) < 0);
	assert_int_equal(mkdir(dir.c_str(), 0755), 0);
	assert_int_equal(raise1(evflat::raise, s, &ev, a.get()), 0);
	assert_string_equal(slurp(p).c_str(), "E_W,y\n");
	evflat::free_sock(s);
}

// E_FLATSTORE_ROTATION through the host, written by a second flatstore
// subscriber: timestamp, reason, filename, old_filename.
void test_rotation_event(void **)
{
	defaults();
	str name = str_init("E_FLATSTORE_ROTATION");
	event_id_t id = evi_get_id(&name);
	assert_true(id >= 0);
	std::string log = g_dir + "/rot_events.log";
	std::string sock = "flatstore:" + log;
	assert_int_equal(shim::evi_subscribe(name, S(sock), 0, false), 0);

	// (rotate_count/size would also rotate the events' own file, so the
	// MI reason is used here; count and size are checked on disk above)
	std::string p = g_dir + "/r.log";
	evi_reply_sock *s = evflat::parse(S(p));
	str ev = str_init("E_R");
	time_t before = time(nullptr);
	// never opened yet: old_filename is empty
	assert_int_equal(evflat::rotate_path(p), 0);
	assert_int_equal(raise1(evflat::raise, s, &ev, nullptr), 0);
	assert_int_equal(evflat::rotate_path(p), 0);
	shim::evi_dispatch_pending(100);
	std::string text = slurp(log);
	size_t nl = text.find('\n');
	assert_true(nl != std::string::npos && text.size() > 40);
	std::string l1 = text.substr(0, nl + 1), l2 = text.substr(nl + 1);
	std::string ts = l1.substr(strlen("E_FLATSTORE_ROTATION,"), 10);
	assert_true(atol(ts.c_str()) >= before);
	assert_string_equal(l1.c_str(), ("E_FLATSTORE_ROTATION," + ts + ",mi," + p + ",\n").c_str());
	ts = l2.substr(strlen("E_FLATSTORE_ROTATION,"), 10);
	assert_string_equal(l2.c_str(), ("E_FLATSTORE_ROTATION," + ts + ",mi," + p + "," + p + "\n").c_str());
	assert_string_equal(slurp(p).c_str(), "E_R\n");
	evflat::free_sock(s);
	defaults();
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_modparams),
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_raise_writes),
		cmocka_unit_test(test_rotate_count_and_size),
		cmocka_unit_test(test_rotate_period_and_suffix),
		cmocka_unit_test(test_mi_rotate),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_rotation_event),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
