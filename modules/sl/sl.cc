// sl: stateless replies from the script, sl_send_reply(code, reason).
#include "opensips/sip_msg.h"
#include "opensips/sr_module.h"

namespace {

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
	return sip_msg_send_reply(msg, c, r->s, r->len) < 0 ? -1 : 1;
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
	nullptr,          /* stats */
	nullptr,          /* mi_cmds */
	nullptr,          /* items */
	nullptr,          /* trans */
	nullptr,          /* procs */
	nullptr,          /* preinit_f */
	nullptr,          /* init_f */
	nullptr,          /* response_f */
	nullptr,          /* destroy_f */
	nullptr,          /* init_child_f */
	nullptr,          /* reload_ack_f */
};

} // extern "C"
