// Fuzz target: the cfg language (lexer, parser, globals, route tree) and
// cfg_fixup (route types, literal fixups, event publication) on an empty
// module set.
//
// No module is ever loaded: an input naming `loadmodule`, `mpath` or
// `auto_load_core_modules` is skipped (identifiers cannot be escaped or
// split, so these words are the only way to reach the loader's dlopen), and
// every input is parsed after "auto_load_core_modules = no". Nothing is
// run: routes are only built and fixed up.
#include <string.h>

#include <string>

#include "settings/globals.h"
#include "cfg/script.h"
#include "evi/evi_core.h"
#include "fuzz.h"
#include "log/log.h"
#include "opensips/version.h"
#include "sip/sip_parser.h"

namespace {

bool contains(const uint8_t *data, size_t size, const char *word)
{
	size_t wl = strlen(word);
	if (size < wl) return false;
	return memmem(data, size, word, wl) != nullptr;
}

// Everything the parser writes besides the script: back to defaults, with
// logging off.
void reset_host()
{
	shim::cfg_reset();
	shim::evi_reset();
	shim::g_globals = shim::core_globals{};
	shim::g_globals.auto_load_core_modules = false;
	shim::log_set_global_level(L_ALERT - 1);
	shim::log_set_stderr(false);
	shim::log_set_prefix("");
	shim::xlog_level = L_NOTICE;
	shim::xlog_print_level = L_NOTICE;
	shim::sip_set_server_header("opensips-shim (" SHIM_VERSION ")");
}

} // namespace

FUZZ_TARGET(cfg)
{
	static bool once = [] {
		reset_host();
		return true;
	}();
	(void)once;
	if (contains(data, size, "loadmodule") || contains(data, size, "mpath") ||
	    contains(data, size, "auto_load_core_modules"))
		return -1; // not added to the corpus
	std::string text = "auto_load_core_modules = no\n";
	text.append(reinterpret_cast<const char *>(data), size);
	std::string err;
	int rc = shim::cfg_parse_string(text, "fuzz.cfg", err);
	if (rc < 0) {
		FUZZ_CHECK(!err.empty(), "parse failed without a message");
		FUZZ_CHECK(err.rfind("fuzz.cfg:", 0) == 0, "error without file:line: %s",
		           err.c_str());
	} else {
		FUZZ_CHECK(shim::g_globals.mpath.empty(), "mpath set");
		err.clear();
		if (shim::cfg_fixup(err) < 0)
			FUZZ_CHECK(err.rfind("fuzz.cfg:", 0) == 0,
			           "fixup error without file:line: %s", err.c_str());
	}
	reset_host();
	return 0;
}
