// mi_fifo: the framing scanner, and the module end to end on a real FIFO
// (mod_init + the "MI FIFO" proc function on a libev loop driven here).
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "../../../../modules/mi_fifo/fifo_framing.h"
#include "mi/mi_core.h"
#include "opensips/sr_module.h"
#include "proc/roster.h"

#include "../../cmocka_cxx.h" // last

extern "C" struct module_exports exports;

namespace {

using mi_fifo::frame_status;

void test_framing(void **)
{
	const char one[] = "  \n:rep:{\"a\":\"x}\\\"\"}:r2:[1,[2]]  ::{}:x:";
	size_t len = sizeof one - 1;
	mi_fifo::frame f = mi_fifo::scan_frame(one, len, 0);
	assert_int_equal((int)f.status, (int)frame_status::ok);
	assert_int_equal(f.start, 3);
	assert_true(f.reply_name == "rep");
	assert_string_equal(std::string(one + f.json_off, f.end - f.json_off).c_str(), "{\"a\":\"x}\\\"\"}");
	f = mi_fifo::scan_frame(one, len, f.end);
	assert_int_equal((int)f.status, (int)frame_status::ok);
	assert_true(f.reply_name == "r2");
	assert_string_equal(std::string(one + f.json_off, f.end - f.json_off).c_str(), "[1,[2]]");
	f = mi_fifo::scan_frame(one, len, f.end);
	assert_int_equal((int)f.status, (int)frame_status::ok);
	assert_true(f.reply_name.empty());
	f = mi_fifo::scan_frame(one, len, f.end);
	assert_int_equal((int)f.status, (int)frame_status::incomplete);

	const char *inc[] = {":r:{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":96", ":r", ":r:", ":r:\"ab"};
	for (const char *s : inc)
		assert_int_equal((int)mi_fifo::scan_frame(s, strlen(s), 0).status, (int)frame_status::incomplete);
	const char *bad[] = {"{\"jsonrpc\":\"2.0\"}", "x:r:{}", ":r:}", ":r\n:{}"};
	for (const char *s : bad)
		assert_int_equal((int)mi_fifo::scan_frame(s, strlen(s), 0).status, (int)frame_status::bad);
	assert_int_equal((int)mi_fifo::scan_frame(" \n\t", 3, 0).status, (int)frame_status::empty);

	assert_true(mi_fifo::valid_reply_name("opensips_reply_123"));
	assert_true(mi_fifo::valid_reply_name(""));
	assert_false(mi_fifo::valid_reply_name("../etc"));
	assert_false(mi_fifo::valid_reply_name("a.b"));
	assert_false(mi_fifo::valid_reply_name("a\\b"));
	assert_false(mi_fifo::valid_reply_name("a/b"));
}

// ---- end to end ----

std::string g_dir;
struct ev_loop *g_loop;

void set_param(const char *name, const char *sval, int ival)
{
	for (const param_export_t *p = exports.params; p->name; p++) {
		if (strcmp(p->name, name) != 0)
			continue;
		if (sval)
			*(char **)p->param_pointer = strdup(sval);
		else
			*(int *)p->param_pointer = ival;
		return;
	}
	fail_msg("no param %s", name);
}

int setup_module(void **)
{
	char tmpl[] = "/tmp/mi_fifo_test.XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	g_dir = tmpl;
	shim::mi_reset();
	shim::mi_register_core_commands();
	shim::roster_reset();
	int id = shim::roster_add("MI FIFO", shim::PROC_TYPE_NONE);
	g_loop = ev_loop_new(EVFLAG_AUTO);
	shim::roster_get(id)->loop = g_loop;
	shim::roster_bind_self(id);
	// a stale regular file where the FIFO goes is replaced
	std::string path = g_dir + "/opensips_fifo";
	int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0600);
	close(fd);
	set_param("fifo_name", path.c_str(), 0);
	set_param("reply_dir", g_dir.c_str(), 0); // no trailing '/': added
	set_param("fifo_mode", nullptr, 0640);
	if (exports.init_f() < 0)
		return -1;
	exports.procs[0].function(0);
	return 0;
}

int teardown_module(void **)
{
	exports.destroy_f();
	std::string cmd = "rm -rf " + g_dir;
	return system(cmd.c_str()) == 0 ? 0 : -1;
}

// Runs the loop until `done` or ~3 s.
template <class F> void pump(F done)
{
	for (int i = 0; i < 3000 && !done(); i++) {
		ev_run(g_loop, EVRUN_NOWAIT);
		usleep(1000);
	}
}

// Client: makes a reply FIFO, writes the request in one write, reads the
// reply until EOF after data, or for `wait_ms` when no data comes.
struct client {
	std::string name, reply;
	std::atomic<bool> finished{false};
	bool got_data = false;
	std::thread th;

	void start(const std::string &data, const std::string &reply_name, int wait_ms = 2000)
	{
		name = reply_name;
		std::string rpath = g_dir + "/" + name;
		if (!name.empty()) {
			unlink(rpath.c_str());
			mkfifo(rpath.c_str(), 0666);
		}
		th = std::thread([this, data, rpath, wait_ms] {
			int rfd = name.empty() ? -1 : open(rpath.c_str(), O_RDONLY | O_NONBLOCK);
			int fd = open((g_dir + "/opensips_fifo").c_str(), O_WRONLY);
			ssize_t w = write(fd, data.data(), data.size());
			(void)w;
			close(fd);
			for (int i = 0; rfd >= 0 && i < wait_ms; i++) {
				char buf[65536];
				ssize_t n = read(rfd, buf, sizeof buf);
				if (n > 0) {
					got_data = true;
					reply.append(buf, (size_t)n);
					continue;
				}
				if (n == 0 && got_data)
					break;
				usleep(1000);
			}
			if (rfd >= 0)
				close(rfd);
			finished = true;
		});
	}
	void join() { th.join(); }
};

void test_fifo_created(void **)
{
	struct stat st;
	std::string path = g_dir + "/opensips_fifo";
	assert_int_equal(stat(path.c_str(), &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
}

void test_request_reply(void **)
{
	client c;
	c.start(":rep1:{\"jsonrpc\":\"2.0\",\"method\":\"pwd\",\"id\":3}", "rep1");
	pump([&] { return c.finished.load(); });
	c.join();
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_string_equal(c.reply.c_str(),
	                    (std::string("{\"jsonrpc\":\"2.0\",\"result\":{\"WD\":\"") + cwd +
	                     "\"},\"id\":3}").c_str());
}

void test_back_to_back_and_garbage(void **)
{
	// two requests in one write, then a malformed one, then a good one
	client a, b;
	a.start("\n:ra:{\"jsonrpc\":\"2.0\",\"method\":\"help\",\"id\":1}"
	        ":rb:{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":\"s\"}",
	        "ra");
	b.name = "rb";
	mkfifo((g_dir + "/rb").c_str(), 0666);
	pump([&] { return a.finished.load(); });
	a.join();
	assert_string_equal(a.reply.c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"result\":\"Usage: help mi_cmd - returns "
	                    "information about 'mi_cmd'\",\"id\":1}");
	// rb's reply waits for a reader (retried 80 ms apart)
	int rfd = open((g_dir + "/rb").c_str(), O_RDONLY | O_NONBLOCK);
	std::string got;
	pump([&] {
		char buf[4096];
		ssize_t n = read(rfd, buf, sizeof buf);
		if (n > 0)
			got.append(buf, (size_t)n);
		return !got.empty() && got.back() == '}';
	});
	close(rfd);
	assert_string_equal(got.c_str(), "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32601,\"message\":"
	                                 "\"Method not found\"},\"id\":\"s\"}");

	client bad;
	bad.start(":rc:{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":96", "rc", 500);
	pump([&] { return bad.finished.load(); });
	bad.join();
	assert_false(bad.got_data); // no reply at all
	assert_true(bad.reply.empty());

	client good;
	good.start(":rd:{\"jsonrpc\":\"2.0\",\"method\":\"xlog_level\",\"id\":102}", "rd");
	pump([&] { return good.finished.load(); });
	good.join();
	assert_non_null(strstr(good.reply.c_str(), "\"id\":102}"));
}

void test_notification_and_bad_names(void **)
{
	client n;
	n.start(":rn:{\"jsonrpc\":\"2.0\",\"method\":\"version\"}", "rn", 500);
	pump([&] { return n.finished.load(); });
	n.join();
	assert_false(n.got_data); // opened and closed with nothing written
	assert_true(n.reply.empty());

	client dot;
	dot.start(":r.x:{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":1}", "rx", 400);
	pump([&] { return dot.finished.load(); });
	dot.join();
	// still alive afterwards, and a `::` request is run without a reply
	client none;
	none.start("::{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":1}", "", 0);
	pump([&] { return none.finished.load(); });
	none.join();
	client ok;
	ok.start(":rok:{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":7}", "rok");
	pump([&] { return ok.finished.load(); });
	ok.join();
	assert_non_null(strstr(ok.reply.c_str(), "\"id\":7}"));
}

void test_oversized(void **)
{
	std::string big = ":rbig:{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"params\":[\"" +
	                  std::string(5000, 'x') + "\"],\"id\":1}";
	client c;
	c.start(big, "rbig", 400);
	pump([&] { return c.finished.load(); });
	for (int i = 0; i < 200; i++) {
		ev_run(g_loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	c.join();
	assert_false(c.got_data);
	client ok;
	ok.start(":rok2:{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":8}", "rok2");
	pump([&] { return ok.finished.load(); });
	ok.join();
	assert_non_null(strstr(ok.reply.c_str(), "\"id\":8}"));
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_fifo_created),
		cmocka_unit_test(test_request_reply),
		cmocka_unit_test(test_back_to_back_and_garbage),
		cmocka_unit_test(test_notification_and_bad_names),
		cmocka_unit_test(test_oversized),
	};
	return cmocka_run_group_tests(tests, setup_module, teardown_module);
}
