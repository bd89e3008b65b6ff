// A module that says it was built for ABI version 1: the loader must refuse
// it, naming both versions (test/system/suite_abi.py). Never installed.
#include "opensips/sr_module.h"

extern "C" {

__attribute__((visibility("default"))) struct module_exports exports = {
	"abi1mod",                                       /* name */
	MOD_TYPE_DEFAULT,                                /* type */
	{SHIM_FULL_VERSION, "shim-abi-1", {"shim", ""}}, /* ver_info: ABI 1 */
	DEFAULT_DLFLAGS,                                 /* dlflags */
	nullptr,                                         /* load_f */
	nullptr,                                         /* deps */
	nullptr,                                         /* cmds */
	nullptr,                                         /* acmds */
	nullptr,                                         /* params */
	nullptr,                                         /* stats */
	nullptr,                                         /* mi_cmds */
	nullptr,                                         /* items */
	nullptr,                                         /* trans */
	nullptr,                                         /* procs */
	nullptr,                                         /* preinit_f */
	nullptr,                                         /* init_f */
	nullptr,                                         /* response_f */
	nullptr,                                         /* destroy_f */
	nullptr,                                         /* init_child_f */
	nullptr,                                         /* reload_ack_f */
};

} // extern "C"
