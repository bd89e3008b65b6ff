// Unit tests of the module loader (core_shim/modules/loader.cc): search,
// built-ins, version refusal, modparam regex and types, auto-loading.
#include <cstring>
#include <fstream>
#include <sstream>

#include "../cfg/cfg_util.h"
#include "opensips/version.h"

#include "../cmocka_cxx.h" // last

using namespace cfgtest;

namespace {

int setup(void **)
{
	reset_host();
	return 0;
}

void search_and_builtins(void **)
{
	std::string err;
	shim::g_globals.mpath = {"/nonexistent", testmod_dir()};
	assert_int_equal(shim::module_load("proto_udp.so", "a.cfg", 1, err), 0);
	assert_int_equal(shim::module_load("proto_tcp.so", "a.cfg", 1, err), 0);
	assert_int_equal(shim::module_load("event_route.so", "a.cfg", 1, err), 0);
	assert_int_equal(shim::module_load("event_routing.so", "a.cfg", 1, err), 0);
	assert_int_equal(shim::modules_list().size(), 0);
	assert_int_equal(shim::module_load("testmod.so", "a.cfg", 2, err), 0);
	assert_int_equal(shim::modules_list().size(), 1);
	assert_non_null(shim::module_find("testmod"));
	assert_string_equal(shim::modules_list()[0]->path.c_str(),
	                    (testmod_dir() + "/testmod.so").c_str());
	// twice: loads nothing more
	assert_int_equal(shim::module_load("testmod.so", "a.cfg", 3, err), 0);
	assert_int_equal(shim::modules_list().size(), 1);
	const shim::loaded_module *owner = nullptr;
	assert_non_null(shim::module_find_cmd("usleep", &owner));
	assert_ptr_equal(owner, shim::module_find("testmod"));
	assert_null(shim::module_find_cmd("USLEEP", &owner));
	assert_int_equal(shim::module_load("rabbitmq.so", "a.cfg", 4, err), -1);
	assert_string_equal(err.c_str(),
	                    "a.cfg:4: module 'rabbitmq' does not exist: use "
	                    "event_rabbitmq");
	assert_int_equal(shim::module_load("nosuch.so", "a.cfg", 5, err), -1);
	assert_string_equal(err.c_str(), ("a.cfg:5: module 'nosuch' not found "
	                                  "(searched /nonexistent, " +
	                                  testmod_dir() + ")").c_str());
}

void subdir_fallback(void **)
{
	// <mpath>/<name>/<name>.so
	std::string dir = "/tmp/cfg-loader-test-" + std::to_string(getpid());
	std::string cmd = "mkdir -p " + dir + "/testmod && cp " + testmod_dir() +
	                  "/testmod.so " + dir + "/testmod/";
	assert_int_equal(system(cmd.c_str()), 0);
	shim::g_globals.mpath = {dir};
	std::string err;
	int rc = shim::module_load("testmod.so", "a.cfg", 1, err);
	system(("rm -rf " + dir).c_str());
	if (rc < 0) fail_msg("%s", err.c_str());
	assert_string_equal(shim::modules_list()[0]->path.c_str(),
	                    (dir + "/testmod/testmod.so").c_str());
}

// A copy of testmod.so with one of its version strings altered.
std::string patched_copy(const std::string &from, const std::string &to)
{
	std::ifstream in(testmod_dir() + "/testmod.so", std::ios::binary);
	std::stringstream ss;
	ss << in.rdbuf();
	std::string bytes = ss.str();
	std::string needle(from.c_str(), from.size() + 1); // with the NUL
	size_t at = bytes.find(needle);
	if (at == std::string::npos) return "";
	bytes.replace(at, to.size(), to);
	std::string path = "/tmp/cfg-loader-bad-" + std::to_string(getpid()) + ".so";
	std::ofstream(path, std::ios::binary) << bytes;
	return path;
}

void version_mismatch(void **)
{
	std::string full = SHIM_FULL_VERSION, bad = full;
	bad[bad.find("0.1.0")] = '9';
	std::string path = patched_copy(full, bad);
	assert_false(path.empty());
	std::string err;
	assert_int_equal(shim::module_load(path, "v.cfg", 7, err), -1);
	unlink(path.c_str());
	std::string want = "v.cfg:7: module 'testmod' (" + path +
	                   ") refused: built for version '" + bad +
	                   "', this host is '" + full + "'";
	assert_string_equal(err.c_str(), want.c_str());
	assert_int_equal(shim::modules_list().size(), 0);

	std::string abi = SHIM_ABI_STRING, badabi = abi;
	badabi.back() = '9';
	path = patched_copy(abi, badabi);
	assert_false(path.empty());
	assert_int_equal(shim::module_load(path, "v.cfg", 8, err), -1);
	unlink(path.c_str());
	want = "v.cfg:8: module 'testmod' (" + path + ") refused: built for ABI '" +
	       badabi + "', this host is '" + abi + "'";
	assert_string_equal(err.c_str(), want.c_str());
}

void modparams(void **)
{
	std::string err;
	int rc = parse("loadmodule \"testmod.so\"\n"
	               "modparam(\"TEST.*\", \"some_int\", 0x10)\n"
	               "modparam(\"testmod\", \"some_str\", \"hello\")\n"
	               "modparam(\"testmod|other\", \"dual\", \"text\")\n"
	               "modparam(\"testmod\", \"dual\", -3)\n"
	               "modparam(\"testmod\", \"func_int\", yes)\n",
	               err);
	if (rc < 0) fail_msg("%s", err.c_str());
	assert_int_equal(probe<int (*)()>("testmod_some_int")(), 16);
	assert_string_equal(probe<const char *(*)()>("testmod_some_str")(), "hello");
	assert_string_equal(probe<const char *(*)()>("testmod_dual_str")(), "text");
	assert_int_equal(probe<int (*)()>("testmod_dual_int")(), -3);
	assert_int_equal(probe<int (*)()>("testmod_func_param_calls")(), 1);
	probe<void (*)()>("testmod_free_params")();

	struct {
		const char *line, *err;
	} cases[] = {
	    {"modparam(\"nomod\", \"some_int\", 1)",
	     "t.cfg:4: modparam: no loaded module matches 'nomod' (load it before "
	     "its modparam)"},
	    {"modparam(\"test\", \"some_int\", 1)", // anchored: no partial match
	     "t.cfg:4: modparam: no loaded module matches 'test' (load it before "
	     "its modparam)"},
	    {"modparam(\"testmod\", \"nope\", 1)",
	     "t.cfg:4: modparam: parameter 'nope' not found in module 'testmod'"},
	    {"modparam(\"testmod\", \"SOME_INT\", 1)",
	     "t.cfg:4: modparam: parameter 'SOME_INT' not found in module 'testmod'"},
	    {"modparam(\"testmod\", \"some_str\", 5)",
	     "t.cfg:4: modparam: type mismatch for parameter 'some_str' of module "
	     "'testmod' (an integer was given)"},
	    {"modparam(\"testmod\", \"func_int\", -1)",
	     "t.cfg:4: modparam: module 'testmod' rejected the value of parameter "
	     "'func_int'"},
	    {"modparam(\"test(\", \"x\", 1)",
	     "t.cfg:4: modparam: bad module regex 'test('"},
	    {"modparam(\"testmod\", \"some_int\", maybe)",
	     "t.cfg:4: modparam value must be a quoted string or a number, found "
	     "'maybe'"},
	};
	for (auto &c : cases) {
		reset_host();
		rc = parse(std::string("loadmodule \"testmod.so\"\n") + c.line + "\n", err);
		assert_int_equal(rc, -1);
		assert_string_equal(err.c_str(), c.err);
	}
}

void init_registers_mi(void **)
{
	std::string err;
	assert_int_equal(load("route { exit; }\n", err), 0);
	assert_true(shim::module_find("testmod")->initialised);
	auto names = shim::mi_command_names();
	bool found = false;
	for (auto &n : names)
		if (n == "testmod:shm_alloc") found = true;
	assert_true(found);
	assert_int_equal(shim::modules_child_init(1), 0);
	shim::modules_destroy();
	assert_false(shim::module_find("testmod")->initialised);
}

void core_set_autoload(void **)
{
	// needs the real status_report.so next to testmod's directory
	std::string mods = build_dir() + "/modules";
	if (access((mods + "/status_report.so").c_str(), R_OK) != 0)
		fail_msg("%s/status_report.so is not built", mods.c_str());
	std::string err;
	shim::g_globals.auto_load_core_modules = true;
	int rc = shim::cfg_parse_string("mpath = \"" + mods + "\"\nmpath = \"" +
	                                    testmod_dir() + "\"\n"
	                                    "loadmodule \"testmod.so\"\n"
	                                    "loadmodule \"status_report.so\"\n",
	                                "c.cfg", err);
	if (rc < 0) fail_msg("%s", err.c_str());
	auto &l = shim::modules_list();
	assert_true(l.size() >= 2);
	assert_string_equal(l[0]->name.c_str(), "status_report");
	assert_true(l[0]->auto_loaded);
	assert_string_equal(l.back()->name.c_str(), "testmod");
	int n = 0;
	for (auto *m : l) n += m->name == "status_report";
	assert_int_equal(n, 1);
	// auto_load_core_modules = no: nothing but what the cfg loads (the
	// core set stays mapped: its load_f state is never freed by design)
	reset_host(false);
	shim::g_globals.auto_load_core_modules = true;
	rc = shim::cfg_parse_string("auto_load_core_modules = no\nmpath = \"" +
	                                mods + "\"\nroute { exit; }\n",
	                            "c.cfg", err);
	assert_int_equal(rc, 0);
	assert_int_equal(shim::modules_list().size(), 0);
}

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(search_and_builtins, setup),
	    cmocka_unit_test_setup(subdir_fallback, setup),
	    cmocka_unit_test_setup(version_mismatch, setup),
	    cmocka_unit_test_setup(modparams, setup),
	    cmocka_unit_test_setup(init_registers_mi, setup),
	    cmocka_unit_test_setup(core_set_autoload, setup),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
