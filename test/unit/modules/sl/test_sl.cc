// sl: sl_send_reply through the module's export table, its `sl:`
// statistics (by class, sent, failed to send, ACKs not counted as
// failures) and its local-ACK counter.
#include <cstring>
#include <string>

#include "opensips/sip_msg.h"
#include "opensips/sr_module.h"
#include "sip/sip_parser.h"
#include "stats/stats.h"

#include "../../cmocka_cxx.h" // last

extern "C" struct module_exports exports;

namespace {

bool g_fail_send = false;
int fake_send(struct sip_msg *, const char *, int) { return g_fail_send ? -1 : 0; }

unsigned long val(const char *name) { return get_stat_val(get_stat(name)); }

int call(const char *method, int code)
{
	std::string text = std::string(method) + " sip:x@h SIP/2.0\r\n"
	                   "Via: SIP/2.0/UDP h:5060;branch=z9hG4bK-2\r\nFrom: <sip:a@h>;tag=1\r\n"
	                   "To: <sip:x@h>\r\nCall-ID: sl-1\r\nCSeq: 1 " + method +
	                   "\r\nContent-Length: 0\r\n\r\n";
	sip_msg msg;
	msg.buf = text.data();
	msg.len = (int)text.size();
	msg.send = fake_send;
	assert_int_equal(shim::sip_parse(&msg), 0);
	str reason = str_init("Whatever");
	return exports.cmds[0].function(&msg, &code, &reason, nullptr, nullptr, nullptr,
	                                nullptr, nullptr, nullptr);
}

int setup(void **)
{
	static bool once = [] {
		assert_int_equal(shim::stats_register_exports("sl", exports.stats), 0);
		assert_int_equal(exports.init_f(), 0);
		return true;
	}();
	(void)once;
	return 0;
}

void test_replies_by_class(void **)
{
	assert_string_equal(exports.cmds[0].name, "sl_send_reply");
	assert_int_equal(call("OPTIONS", 200), 1);
	assert_int_equal(call("OPTIONS", 404), 1);
	assert_int_equal(call("INVITE", 183), 1);
	assert_int_equal(call("OPTIONS", 503), 1);
	assert_int_equal(val("sl:2xx_replies"), 1);
	assert_int_equal(val("sl:4xx_replies"), 1);
	assert_int_equal(val("sl:1xx_replies"), 1);
	assert_int_equal(val("sl:5xx_replies"), 1);
	assert_int_equal(val("sl:sent_replies"), 4);
	assert_int_equal(val("sl:sent_err_replies"), 0);
}

void test_failures(void **)
{
	g_fail_send = true;
	assert_int_equal(call("OPTIONS", 200), -1);
	g_fail_send = false;
	assert_int_equal(val("sl:sent_err_replies"), 1);
	// an ACK gets no reply, and that is no failure
	assert_int_equal(call("ACK", 200), -1);
	assert_int_equal(val("sl:sent_err_replies"), 1);
	// a bad code is refused before anything is sent
	assert_int_equal(call("OPTIONS", 99), -1);
	assert_int_equal(val("sl:sent_replies"), 4);
	// the kinds, as the reference lists them
	for (const char *n : {"sl:1xx_replies", "sl:sent_replies", "sl:received_ACKs"})
		assert_true(shim::stat_incremental(get_stat(n)));
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_replies_by_class, setup),
		cmocka_unit_test_setup(test_failures, setup),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
