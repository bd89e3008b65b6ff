// The module loader (spec §6.2, §6.4; decisions.md §1).
#include "util/regex_guard.h"
#include "modules/loader.h"

#include <dlfcn.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <deque>
#include <functional>
#include <map>

#include "settings/globals.h"
#include "opensips/dprint.h"
#include "opensips/mi.h"
#include "stats/stats.h"

namespace shim {

namespace {

// Never destroyed: module records stay reachable until exit even when a
// caller (a unit test) ends without modules_reset().
std::vector<loaded_module *> &g_modules = *new std::vector<loaded_module *>();
// Strings handed to USE_FUNC_PARAM setters: they may keep the pointer, so
// the text lives until the modules are unloaded.
std::deque<std::string> g_func_param_strings;
// strdup'ed STR_PARAM values handed to modules; freed after unload.
std::vector<char *> g_param_copies;

// Loaded by the host itself, in this order (decisions.md §1).
const char *const core_set[] = {"status_report", "core_events",
                                "event_profiling"};

// "file:line" of the modparam that last set each (module, parameter), for
// modules that check their settings in init_f (shim_modparam_where).
std::map<std::string, std::string> g_param_where;

std::string where(const std::string &file, int line)
{
	if (file.empty()) return "";
	return file + ":" + std::to_string(line) + ": ";
}

bool file_exists(const std::string &p)
{
	struct stat st;
	return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string base_name(const std::string &name)
{
	std::string b = name.substr(name.rfind('/') == std::string::npos
	                                ? 0
	                                : name.rfind('/') + 1);
	if (b.size() > 3 && b.compare(b.size() - 3, 3, ".so") == 0)
		b.resize(b.size() - 3);
	return b;
}

std::vector<std::string> search_dirs()
{
	if (!g_globals.mpath.empty()) return g_globals.mpath;
	return {default_module_dir()};
}

// The file for `name`, or "" when none exists.
std::string resolve(const std::string &name)
{
	if (!name.empty() && name[0] == '/') return file_exists(name) ? name : "";
	std::string n = name;
	bool has_slash = n.find('/') != std::string::npos;
	if (!has_slash && base_name(n) == n) n += ".so"; // loadmodule "sl"
	for (auto d : search_dirs()) {
		if (!d.empty() && d.back() != '/') d += '/';
		if (file_exists(d + n)) return d + n;
		if (!has_slash && n.size() > 3 &&
		    n.compare(n.size() - 3, 3, ".so") == 0) {
			std::string alt = d + base_name(n) + "/" + n;
			if (file_exists(alt)) return alt;
		}
	}
	return "";
}

loaded_module *find_mod(const std::string &name)
{
	for (auto *m : g_modules)
		if (m->name == name) return m;
	return nullptr;
}

int load_file(const std::string &path, const std::string &what,
              const std::string &at, bool auto_loaded, std::string &err)
{
	void *h = dlopen(path.c_str(), RTLD_NOW);
	if (!h) {
		err = at + "cannot load module '" + what + "': " + dlerror();
		return -1;
	}
	for (auto *m : g_modules)
		if (m->handle == h) {
			LM_WARN("module '%s' (%s) is already loaded\n", m->name.c_str(),
			        path.c_str());
			dlclose(h);
			return 0;
		}
	auto *exp = (const module_exports *)dlsym(h, "exports");
	if (!exp || !exp->name) {
		err = at + "module '" + what + "' (" + path +
		      ") has no 'exports' symbol: not an opensips-shim module";
		dlclose(h);
		return -1;
	}
	const char *ver = exp->ver_info.version ? exp->ver_info.version : "(null)";
	const char *flags =
	    exp->ver_info.compile_flags ? exp->ver_info.compile_flags : "(null)";
	if (strcmp(ver, SHIM_FULL_VERSION) != 0) {
		err = at + "module '" + exp->name + "' (" + path +
		      ") refused: built for version '" + ver + "', this host is '" +
		      SHIM_FULL_VERSION + "'";
		LM_CRIT("%s\n", err.c_str());
		dlclose(h);
		return -1;
	}
	if (strcmp(flags, SHIM_ABI_STRING) != 0) {
		err = at + "module '" + exp->name + "' (" + path +
		      ") refused: built for ABI '" + flags + "', this host is '" +
		      SHIM_ABI_STRING + "'";
		LM_CRIT("%s\n", err.c_str());
		dlclose(h);
		return -1;
	}
	if (find_mod(exp->name)) {
		LM_WARN("a module named '%s' is already loaded; ignoring %s\n",
		        exp->name, path.c_str());
		dlclose(h);
		return 0;
	}
	if (exp->dlflags != DEFAULT_DLFLAGS) {
		void *h2 = dlopen(path.c_str(), exp->dlflags);
		if (!h2) {
			err = at + "cannot reload module '" + what + "' with its flags: " +
			      dlerror();
			dlclose(h);
			return -1;
		}
		dlclose(h);
		h = h2;
		exp = (const module_exports *)dlsym(h, "exports");
	}
	if (exp->load_f && exp->load_f() < 0) {
		err = at + "module '" + std::string(exp->name) + "': load function failed";
		dlclose(h);
		return -1;
	}
	auto *m = new loaded_module;
	m->name = exp->name;
	m->path = path;
	m->handle = h;
	m->exp = exp;
	m->auto_loaded = auto_loaded;
	g_modules.push_back(m);
	LM_DBG("loaded module %s from %s\n", m->name.c_str(), path.c_str());
	return 0;
}

} // namespace

std::string default_module_dir()
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0) return "../lib/opensips-shim/modules";
	buf[n] = 0;
	std::string dir(buf);
	dir = dir.substr(0, dir.rfind('/'));
	struct stat st;
	if (stat((dir + "/modules").c_str(), &st) == 0 && S_ISDIR(st.st_mode))
		return dir + "/modules";
	return dir + "/../lib/opensips-shim/modules";
}

int module_load(const std::string &name, const std::string &file, int line,
                std::string &err)
{
	std::string at = where(file, line);
	std::string base = base_name(name);
	if (base == "proto_udp" || base == "proto_tcp" || base == "event_routing")
		return 0; // built into the host
	if (base.rfind("event_route", 0) == 0) {
		LM_WARN("%smodule 'event_route' is integrated in the core; skipped\n",
		        at.c_str());
		return 0;
	}
	if (base.rfind("rabbitmq", 0) == 0) {
		err = at + "module 'rabbitmq' does not exist: use event_rabbitmq";
		return -1;
	}
	for (auto *c : core_set)
		if (base == c && find_mod(c)) return 0; // auto-loaded already
	if (find_mod(base) && name.find('/') == std::string::npos) {
		LM_WARN("%smodule '%s' is already loaded\n", at.c_str(), base.c_str());
		return 0;
	}
	std::string path = resolve(name);
	if (path.empty()) {
		std::string dirs;
		for (auto &d : search_dirs()) dirs += (dirs.empty() ? "" : ", ") + d;
		err = at + "module '" + base + "' not found (" +
		      (name[0] == '/' ? name : "searched " + dirs) + ")";
		return -1;
	}
	return load_file(path, base, at, false, err);
}

int module_load_core_set(std::string &err)
{
	for (auto *c : core_set) {
		if (find_mod(c)) continue;
		std::string path = resolve(std::string(c) + ".so");
		if (path.empty()) {
			LM_DBG("core module %s not found; not loaded\n", c);
			continue;
		}
		if (load_file(path, c, "", true, err) < 0) return -1;
	}
	return 0;
}

int module_set_param(const std::string &mod_regex, const std::string &param,
                     bool is_str, const std::string &sval, long ival,
                     const std::string &file, int line, std::string &err)
{
	std::string at = where(file, line);
	regex_t re;
	std::string pat = "^(" + mod_regex + ")$";
	if (regcomp_guarded(&re, pat.c_str(), REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
		err = at + "modparam: bad module regex '" + mod_regex + "'";
		return -1;
	}
	int matched = 0;
	for (auto *m : g_modules) {
		if (regexec(&re, m->name.c_str(), 0, nullptr, 0) != 0) continue;
		matched++;
		const param_export_t *hit = nullptr;
		bool name_seen = false;
		modparam_t want = is_str ? STR_PARAM : INT_PARAM;
		for (auto *p = m->exp->params; p && p->name; p++) {
			if (param != p->name) continue;
			name_seen = true;
			if (PARAM_TYPE_MASK(p->type) & want) { hit = p; break; }
		}
		if (!hit) {
			regfree(&re);
			if (name_seen)
				err = at + "modparam: type mismatch for parameter '" + param +
				      "' of module '" + m->name + "' (" +
				      (is_str ? "a string was given" : "an integer was given") +
				      ")";
			else
				err = at + "modparam: parameter '" + param +
				      "' not found in module '" + m->name + "'";
			return -1;
		}
		g_param_where[m->name + '\0' + param] = file.empty() ? "" : file + ":" + std::to_string(line);
		if (hit->type & USE_FUNC_PARAM) {
			auto f = (param_func_t)hit->param_pointer;
			void *v = (void *)ival;
			if (is_str) {
				g_func_param_strings.push_back(sval);
				v = g_func_param_strings.back().data();
			}
			if (f(want, v) < 0) {
				regfree(&re);
				err = at + "modparam: module '" + m->name +
				      "' rejected the value of parameter '" + param + "'";
				return -1;
			}
		} else if (is_str) {
			char *copy = strdup(sval.c_str());
			g_param_copies.push_back(copy);
			*(char **)hit->param_pointer = copy;
		} else {
			*(int *)hit->param_pointer = (int)ival;
		}
	}
	regfree(&re);
	if (!matched) {
		err = at + "modparam: no loaded module matches '" + mod_regex +
		      "' (load it before its modparam)";
		return -1;
	}
	return 0;
}

namespace {

// Dependencies of `m` that must be initialised before it (and those that
// asked to be initialised after it, DEP_REVERSE_MINIT, the other way).
int init_one(loaded_module *m, std::map<loaded_module *, int> &state,
             std::string &err)
{
	if (state[m] == 2) return 0;
	if (state[m] == 1) return 0; // a cycle: init in load order
	state[m] = 1;
	auto deps_of = [](loaded_module *x) {
		std::vector<const module_dependency_t *> r;
		if (x->exp->deps)
			for (int i = 0; i < MAX_MOD_DEPS && x->exp->deps->md[i].mod_name; i++)
				r.push_back(&x->exp->deps->md[i]);
		return r;
	};
	for (auto *d : deps_of(m)) {
		loaded_module *dm = find_mod(d->mod_name);
		if (!dm) {
			if (d->type & DEP_ABORT) {
				err = "module '" + m->name + "' depends on module '" +
				      d->mod_name + "', which is not loaded";
				return -1;
			}
			if (!(d->type & DEP_SILENT))
				LM_WARN("module '%s' works better with module '%s', which is "
				        "not loaded\n", m->name.c_str(), d->mod_name);
			continue;
		}
		if (d->type & DEP_REVERSE_MINIT) continue;
		if (init_one(dm, state, err) < 0) return -1;
	}
	// modules that must be initialised before us because we are their
	// reverse-init dependency
	for (auto *o : g_modules) {
		if (o == m) continue;
		for (auto *d : deps_of(o))
			if (m->name == d->mod_name && (d->type & DEP_REVERSE_MINIT))
				if (init_one(o, state, err) < 0) return -1;
	}
	if (m->exp->stats && stats_register_exports(m->name.c_str(), m->exp->stats) < 0) {
		err = "statistics of module '" + m->name + "' cannot be registered";
		return -1;
	}
	if (m->exp->init_f && m->exp->init_f() != 0) {
		err = "initialisation of module '" + m->name + "' failed";
		return -1;
	}
	m->initialised = true;
	state[m] = 2;
	if (m->exp->mi_cmds && m->exp->mi_cmds[0].name) {
		std::string ns = m->name;
		if (ns.rfind("proto_", 0) == 0) ns = ns.substr(6);
		if (register_mi_mod(ns.c_str(), m->exp->mi_cmds) < 0) {
			err = "module '" + m->name + "': cannot register its MI commands";
			return -1;
		}
	}
	return 0;
}

} // namespace

int modules_init(std::string &err)
{
	for (auto it = g_modules.rbegin(); it != g_modules.rend(); ++it) {
		auto *m = *it;
		if (m->exp->preinit_f && m->exp->preinit_f() < 0) {
			err = "pre-initialisation of module '" + m->name + "' failed";
			return -1;
		}
	}
	std::map<loaded_module *, int> state;
	for (auto *m : g_modules)
		if (init_one(m, state, err) < 0) return -1;
	return 0;
}

int modules_child_init(int rank)
{
	for (auto *m : g_modules) {
		if (!m->initialised || !m->exp->init_child_f) continue;
		if (m->exp->init_child_f(rank) < 0) {
			LM_ERR("child init (rank %d) of module '%s' failed\n", rank,
			       m->name.c_str());
			return -1;
		}
	}
	return 0;
}

void modules_destroy()
{
	for (auto it = g_modules.rbegin(); it != g_modules.rend(); ++it) {
		auto *m = *it;
		if (m->initialised && m->exp->destroy_f) m->exp->destroy_f();
		m->initialised = false;
	}
}

void modules_reset(bool unload)
{
	for (auto it = g_modules.rbegin(); it != g_modules.rend(); ++it) {
		if (unload)
			dlclose((*it)->handle);
		delete *it;
	}
	g_modules.clear();
	g_func_param_strings.clear();
	for (char *c : g_param_copies)
		free(c);
	g_param_copies.clear();
}

const std::vector<loaded_module *> &modules_list() { return g_modules; }

const loaded_module *module_find(const std::string &name)
{
	return find_mod(name);
}

const cmd_export_t *module_find_cmd(const std::string &name,
                                    const loaded_module **owner)
{
	for (auto *m : g_modules)
		for (auto *c = m->exp->cmds; c && c->name; c++)
			if (name == c->name) {
				if (owner) *owner = m;
				return c;
			}
	return nullptr;
}

} // namespace shim

extern "C" const char *shim_modparam_where(const char *module, const char *param)
{
	if (!module || !param)
		return nullptr;
	auto it = shim::g_param_where.find(std::string(module) + '\0' + param);
	if (it == shim::g_param_where.end() || it->second.empty())
		return nullptr;
	return it->second.c_str();
}
