// sl: stateless replies from the script, sl_send_reply(code, reason), and
// OpenSIPS's `sl:` statistics (replies by class, sent, failed to send,
// ACKs of our replies, which the host absorbs before the script).
#include <cstring>

#include "opensips/sip_msg.h"
#include "opensips/sr_module.h"

namespace {

stat_var *st_class[6];  // [0] 1xx ... [5] 6xx
stat_var *st_sent, *st_sent_err, *st_acks;

const stat_export_t stats[] = {
	{"1xx_replies", 0, &st_class[0]},
	{"2xx_replies", 0, &st_class[1]},
	{"3xx_replies", 0, &st_class[2]},
	{"4xx_replies", 0, &st_class[3]},
	{"5xx_replies", 0, &st_class[4]},
	{"6xx_replies", 0, &st_class[5]},
	{"sent_replies", 0, &st_sent},
	{"sent_err_replies", 0, &st_sent_err},
	{"received_ACKs", 0, &st_acks},
	{nullptr, 0, nullptr},
};

void on_local_ack(const struct sip_msg *) { update_stat(st_acks, 1); }

int mod_init(void)
{
	if (sip_set_local_ack_cb(on_local_ack) < 0)
		LM_WARN("another module counts the ACKs of stateless replies\n");
	return 0;
}

// sl_send_reply(code, reason): 1 when the reply left, -1 otherwise (no SIP
// request, ACK, bad code, send failure).
int w_sl_send_reply(struct sip_msg *msg, void *code, void *reason, void *,
                    void *, void *, void *, void *, void *)
{
	if (!msg || !code || !reason)
		return -1;
	int c = *(const int *)code;
	const str *r = (const str *)reason;
	if (c < 100 || c > 699) {
		LM_ERR("invalid reply code %d\n", c);
		return -1;
	}
	if (sip_msg_send_reply(msg, c, r->s, r->len) < 0) {
		str m = sip_msg_method(msg);
		if (!(m.len == 3 && memcmp(m.s, "ACK", 3) == 0)) // ACKs get no reply
			update_stat(st_sent_err, 1);
		return -1;
	}
	update_stat(st_class[c / 100 - 1], 1);
	update_stat(st_sent, 1);
	return 1;
}

const cmd_export_t cmds[] = {
	{
		"sl_send_reply",                     /* name */
		w_sl_send_reply,                     /* function */
		{
			{CMD_PARAM_INT, nullptr, nullptr}, /* code */
			{CMD_PARAM_STR, nullptr, nullptr}, /* reason */
			{0, nullptr, nullptr},
		},
		REQUEST_ROUTE,                       /* needs a SIP request */
	},
	{nullptr, nullptr, {{0, nullptr, nullptr}}, 0},
};

} // namespace

extern "C" {

__attribute__((visibility("default"))) struct module_exports exports = {
	"sl",             /* name */
	MOD_TYPE_DEFAULT, /* type */
	MODULE_VERSION,   /* ver_info */
	DEFAULT_DLFLAGS,  /* dlflags */
	nullptr,          /* load_f */
	nullptr,          /* deps */
	cmds,             /* cmds */
	nullptr,          /* acmds */
	nullptr,          /* params */
	stats,            /* stats: sl:1xx_replies ... received_ACKs */
	nullptr,          /* mi_cmds */
	nullptr,          /* items */
	nullptr,          /* trans */
	nullptr,          /* procs */
	nullptr,          /* preinit_f */
	mod_init,         /* init_f: takes the local-ACK callback */
	nullptr,          /* response_f */
	nullptr,          /* destroy_f */
	nullptr,          /* init_child_f */
	nullptr,          /* reload_ack_f */
};

} // extern "C"
