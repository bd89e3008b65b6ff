// The core:* MI commands (core_shim/mi/mi_core.cc) and replays of the
// reference records that only need the MI core (transcripts.jsonl,
// crash-probes.jsonl, opensips-cli-wire.jsonl).
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <jansson.h>
#include <string>
#include <unistd.h>
#include <vector>

#include "api/registry.h"
#include "settings/globals.h"
#include "log/log.h"
#include "mi/mi_core.h"
#include "opensips/host.h"
#include "opensips/mi.h"
#include "proc/roster.h"

#include "../cmocka_cxx.h" // last

namespace {

struct run_out {
	int rc;
	std::string reply;
};

run_out run(const std::string &req)
{
	char *reply = nullptr;
	int len = 0;
	int rc = mi_run_jsonrpc(req.data(), (int)req.size(), 0, "test", &reply, &len);
	run_out o{rc, reply ? std::string(reply, (size_t)len) : std::string()};
	mi_free_reply(reply);
	return o;
}

std::string call(const std::string &method, const std::string &params = "")
{
	std::string req = "{\"jsonrpc\":\"2.0\",\"method\":\"" + method + "\"";
	if (!params.empty())
		req += ",\"params\":" + params;
	req += ",\"id\":1}";
	run_out o = run(req);
	assert_int_equal(o.rc, MI_RUN_REPLY);
	return o.reply;
}

std::string result(const std::string &r)
{
	return "{\"jsonrpc\":\"2.0\",\"result\":" + r + ",\"id\":1}";
}

// Replaces the string value of each "key":"..." with "" (compare by type).
std::string mask(std::string s, const std::vector<std::string> &keys)
{
	for (auto &k : keys) {
		std::string pat = "\"" + k + "\":\"";
		size_t pos = 0;
		while ((pos = s.find(pat, pos)) != std::string::npos) {
			size_t v = pos + pat.size(), e = v;
			while (e < s.size() && s[e] != '"') {
				if (s[e] == '\\')
					e++;
				e++;
			}
			s.erase(v, e - v);
			pos = v;
		}
	}
	return s;
}

int setup(void **)
{
	shim::mi_reset();
	shim::g_globals.mi_list_aliases = false;
	shim::mi_register_core_commands();
	return 0;
}

// ---- commands ----

void test_version(void **)
{
	std::string want = std::string("{\"Server\":\"") + shim_server_version() + "\"}";
	assert_string_equal(call("version").c_str(), result(want).c_str());
	assert_string_equal(call("core:version", "{}").c_str(), result(want).c_str());
	std::string rev = call("version", "[\"x\"]");
	std::string head = "{\"jsonrpc\":\"2.0\",\"result\":{\"Server\":\"" +
	                   std::string(shim_server_version()) + "\",";
	assert_true(rev.compare(0, head.size(), head) == 0);
	assert_non_null(strstr(rev.c_str(), "\"git\":\""));
	// the identity of decisions.md §10
	std::string sv = shim_server_version();
	assert_true(sv.compare(0, 15, "opensips-shim (") == 0);
	assert_true(sv.size() > 8 && sv.compare(sv.size() - 8, 8, "/linux))") == 0);
}

// `pat`: '#' a digit, '_' a digit or space, '^' an upper-case letter, '~' a
// lower-case letter, '+' one or more digits; anything else literal.
bool shape(const std::string &s, const char *pat)
{
	size_t i = 0;
	for (const char *p = pat; *p; p++) {
		if (*p == '+') {
			size_t st = i;
			while (i < s.size() && isdigit((unsigned char)s[i]))
				i++;
			if (i == st)
				return false;
			continue;
		}
		if (i >= s.size())
			return false;
		char c = s[i++];
		bool okc = *p == '#'   ? isdigit((unsigned char)c)
		           : *p == '_' ? (isdigit((unsigned char)c) || c == ' ')
		           : *p == '^' ? isupper((unsigned char)c)
		           : *p == '~' ? islower((unsigned char)c)
		                       : c == *p;
		if (!okc)
			return false;
	}
	return i == s.size();
}

void test_uptime(void **)
{
	std::string r = call("uptime");
	const char *pat = "{\"jsonrpc\":\"2.0\",\"result\":{\"Now\":\"^~~ ^~~ _# ##:##:## ####\","
	                  "\"Up since\":\"^~~ ^~~ _# ##:##:## ####\",\"Up time\":\"+ [sec]\"},\"id\":1}";
	if (!shape(r, pat))
		fail_msg("uptime reply %s", r.c_str());
}

void test_pwd_arg(void **)
{
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_string_equal(call("pwd").c_str(),
	                    result(std::string("{\"WD\":\"") + cwd + "\"}").c_str());
	char a0[] = "opensips-shim", a1[] = "-f", a2[] = "my \"cfg\"";
	char *argv[] = {a0, a1, a2, nullptr};
	shim::mi_set_argv(3, argv);
	assert_string_equal(call("arg").c_str(),
	                    result("[\"opensips-shim\",\"-f\",\"my \\\"cfg\\\"\"]").c_str());
}

int roster_fixture(void **state)
{
	setup(state);
	shim::roster_reset();
	int a = shim::roster_add("attendant", shim::PROC_TYPE_NONE);
	int b = shim::roster_add("MI FIFO", shim::PROC_TYPE_NONE);
	int c = shim::roster_add("timer", shim::PROC_TYPE_TIMER);
	shim::roster_bind_self(a);
	shim::roster_get(a)->running = true;
	shim::roster_get(b)->pid = 4242;
	shim::roster_get(b)->running = true;
	shim::roster_get(c)->pid = 4343; // not running: not listed
	return 0;
}

void test_ps(void **)
{
	std::string me = std::to_string(shim_my_pid());
	assert_string_equal(call("ps").c_str(),
	                    result("{\"Processes\":[{\"ID\":0,\"PID\":" + me +
	                           ",\"Type\":\"attendant\"},{\"ID\":1,\"PID\":4242,\"Type\":\"MI FIFO\"}]}")
	                        .c_str());
}

void test_log_level(void **)
{
	std::string me = std::to_string(shim_my_pid());
	shim::log_set_global_level(3);
	assert_string_equal(call("log_level").c_str(),
	                    result("{\"Processes\":[{\"PID\":" + me +
	                           ",\"Log level\":3,\"Type\":\"attendant\"},{\"PID\":4242,\"Log "
	                           "level\":3,\"Type\":\"MI FIFO\"}]}")
	                        .c_str());
	assert_string_equal(call("log_level", "[4]").c_str(),
	                    result("{\"New global log level\":4}").c_str());
	assert_int_equal(shim::log_global_level(), 4);
	assert_int_equal(shim::roster_get(1)->log_level.load(), 4);
	assert_string_equal(call("log_level", "{\"level\":\"-1\",\"pid\":4242}").c_str(),
	                    result("{\"Log level\":-1}").c_str());
	assert_int_equal(shim::roster_get(1)->log_level.load(), -1);
	assert_int_equal(shim::roster_get(0)->log_level.load(), 4);
	assert_string_equal(call("log_level", "[\"2\",\"4343\"]").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"Invalid "
	                    "params\",\"data\":\"Bad PID\"},\"id\":1}");
	assert_string_equal(call("log_level", "{\"level\":\"high\"}").c_str(),
	                    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32602,\"message\":\"Invalid "
	                    "params\",\"data\":\"Bad type for parameter 'level'\"},\"id\":1}");
	shim::log_set_global_level(2);
}

void test_xlog_level(void **)
{
	int old = shim::xlog_level;
	shim::xlog_level = 3;
	assert_string_equal(call("xlog_level").c_str(), result("{\"xLog Level\":3}").c_str());
	assert_string_equal(call("core:xlog_level", "[1]").c_str(),
	                    result("{\"New xLog level\":1}").c_str());
	assert_int_equal(shim::xlog_level, 1);
	shim::xlog_level = old;
}

volatile sig_atomic_t g_term = 0;
void on_term(int) { g_term = 1; }

void test_kill(void **)
{
	struct sigaction sa {}, old {};
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, &old);
	assert_string_equal(call("kill").c_str(), result("\"OK\"").c_str());
	for (int i = 0; i < 100 && !g_term; i++)
		usleep(1000);
	sigaction(SIGTERM, &old, nullptr);
	assert_true(g_term);
	assert_true(shim_should_stop());
}

// ---- replays ----

std::string ref_dir()
{
	if (const char *d = getenv("SHIM_REFERENCE_DIR"))
		return d;
	for (const char *d : {"../shared/reference", "/work/shared/reference"})
		if (access((std::string(d) + "/transcripts.jsonl").c_str(), R_OK) == 0)
			return d;
	return "";
}

std::vector<json_t *> load_jsonl(const std::string &file)
{
	std::vector<json_t *> out;
	std::ifstream in(file);
	std::string line;
	while (std::getline(in, line)) {
		json_error_t e;
		json_t *j = json_loads(line.c_str(), 0, &e);
		if (j)
			out.push_back(j);
	}
	return out;
}

const char *str_of(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : nullptr;
}

const std::vector<std::string> volatile_keys = {"Server", "Now", "Up since", "Up time"};

// The reference request needs only the MI core when it does not parse, is
// invalid, or names a core command / an unknown one.
bool core_only(const char *req)
{
	json_error_t e;
	json_t *j = json_loads(req, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &e);
	if (!j)
		return true;
	bool yes = true;
	if (json_is_object(j)) {
		const char *m = str_of(j, "method");
		if (m) {
			std::string ms(m);
			yes = ms == "version" || ms == "uptime" || ms == "no_such_command" ||
			      ms == "core:version" || ms == "pwd" || ms == "help";
			const char *v = str_of(j, "jsonrpc");
			if (!v || strcmp(v, "2.0") != 0)
				yes = true;
			json_t *p = json_object_get(j, "params");
			if (p && !json_is_object(p) && !json_is_array(p))
				yes = true;
		}
	}
	json_decref(j);
	return yes;
}

void check_replay(const std::string &where, const char *req, const char *reply, bool http)
{
	run_out o = run(req);
	if (reply && !*reply)
		reply = nullptr; // mi_http's 202 to a notification: an empty body
	if (!reply || (!http && strcmp(reply, "400 Parse_error") == 0)) {
		// no reply over fifo/datagram: a notification, or unparsable input
		bool parse = reply != nullptr;
		if (!parse) {
			json_error_t e;
			json_t *j = json_loads(req, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &e);
			parse = j == nullptr;
			json_decref(j);
		}
		int want = parse ? MI_RUN_PARSE_ERROR : MI_RUN_NO_REPLY;
		if (o.rc != want)
			fail_msg("%s: %s -> rc %d (%s), want rc %d", where.c_str(), req, o.rc,
			         o.reply.c_str(), want);
		return;
	}
	if (o.rc != MI_RUN_REPLY && o.rc != MI_RUN_PARSE_ERROR)
		fail_msg("%s: %s -> rc %d, want %s", where.c_str(), req, o.rc, reply);
	std::string a = mask(o.reply, volatile_keys), b = mask(reply, volatile_keys);
	if (a != b)
		fail_msg("%s: %s\n  got  %s\n  want %s", where.c_str(), req, o.reply.c_str(), reply);
}

void test_replay_transcripts(void **)
{
	std::string dir = ref_dir();
	if (dir.empty()) {
		print_message("reference data not found (set SHIM_REFERENCE_DIR): skipped\n");
		skip();
	}
	int replayed = 0;
	for (json_t *r : load_jsonl(dir + "/transcripts.jsonl")) {
		const char *kind = str_of(r, "kind"), *cas = str_of(r, "case"),
		           *req = str_of(r, "request"), *tr = str_of(r, "transport");
		const char *reply = str_of(r, "reply");
		bool skip_it = !kind || strcmp(kind, "mi") != 0 || !req || !cas ||
		               strncmp(cas, "http_", 5) == 0 ||
		               // the reference died on the request before (crash probe)
		               strcmp(cas, "server_alive_after_missing_method") == 0 ||
		               !core_only(req);
		if (!skip_it) {
			std::string where = std::string(cas) + "/" + tr;
			if (strstr(cas, "CRASH")) {
				// decisions.md §11: answer as mi_http did (record 137)
				check_replay(where, req,
				             "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":"
				             "\"Invalid Request\"},\"id\":99}",
				             true);
			} else {
				check_replay(where, req, reply, strcmp(tr, "mi_http") == 0);
			}
			replayed++;
		}
		json_decref(r);
	}
	print_message("replayed %d transcript records\n", replayed);
	assert_true(replayed >= 15);
}

void test_replay_crash_probes(void **)
{
	std::string dir = ref_dir();
	if (dir.empty())
		skip();
	int replayed = 0;
	for (json_t *r : load_jsonl(dir + "/crash-probes.jsonl")) {
		const char *tr = str_of(r, "tr"), *req = str_of(r, "req"), *rep = str_of(r, "rep");
		bool alive = json_is_true(json_object_get(r, "alive"));
		std::string where = std::string("crash-probe/") + (tr ? tr : "?");
		if (!req) {
			json_decref(r);
			continue;
		}
		run_out o = run(req);
		std::string body = rep ? rep : "";
		if (tr && strcmp(tr, "h") == 0) {
			size_t p = body.find("\r\n\r\n");
			body = p == std::string::npos ? "" : body.substr(p + 4);
		}
		json_error_t e;
		json_t *j = json_loads(req, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &e);
		bool batch = json_is_array(j) && json_array_size(j) > 0;
		json_decref(j);
		if (batch) {
			// decisions.md §11: a batch gets an array of responses
			if (o.rc != MI_RUN_REPLY || o.reply.front() != '[' || o.reply.back() != ']')
				fail_msg("%s: batch %s -> %s", where.c_str(), req, o.reply.c_str());
		} else if (!alive || body.empty()) {
			// `[]` killed the reference: -32600 with id null
			if (o.reply != "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":"
			               "\"Invalid Request\"},\"id\":null}")
				fail_msg("%s: %s -> %s", where.c_str(), req, o.reply.c_str());
		} else {
			check_replay(where, req, body.c_str(), true);
		}
		replayed++;
		json_decref(r);
	}
	assert_true(replayed >= 8);
}

// opensips-cli's habits: string ids, `params: {}`, ", " separators.
void test_cli_wire_shape(void **)
{
	std::string dir = ref_dir();
	if (dir.empty())
		skip();
	int n = 0;
	for (json_t *r : load_jsonl(dir + "/opensips-cli-wire.jsonl")) {
		const char *req = str_of(r, "request");
		json_error_t e;
		json_t *j = req ? json_loads(req, 0, &e) : nullptr;
		const char *m = j ? str_of(j, "method") : nullptr;
		if (m && (strcmp(m, "which") == 0 || strcmp(m, "core:which") == 0)) {
			run_out o = run(req);
			std::string tail = std::string("],\"id\":\"") + str_of(j, "id") + "\"}";
			assert_int_equal(o.rc, MI_RUN_REPLY);
			assert_true(o.reply.compare(0, 27, "{\"jsonrpc\":\"2.0\",\"result\":[") == 0);
			assert_true(o.reply.size() > tail.size() &&
			            o.reply.compare(o.reply.size() - tail.size(), tail.size(), tail) == 0);
			n++;
		}
		json_decref(j);
		json_decref(r);
	}
	assert_true(n >= 1);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_version, setup),
		cmocka_unit_test_setup(test_uptime, setup),
		cmocka_unit_test_setup(test_pwd_arg, setup),
		cmocka_unit_test_setup(test_ps, roster_fixture),
		cmocka_unit_test_setup(test_log_level, roster_fixture),
		cmocka_unit_test_setup(test_xlog_level, setup),
		cmocka_unit_test_setup(test_replay_transcripts, setup),
		cmocka_unit_test_setup(test_replay_crash_probes, setup),
		cmocka_unit_test_setup(test_cli_wire_shape, setup),
		cmocka_unit_test_setup(test_kill, setup), // last: it starts shutdown
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
