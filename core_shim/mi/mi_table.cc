// Command registration and name resolution (spec §5.2).
#include "mi/mi_table.h"

#include <atomic>
#include <cstring>
#include <iterator>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "mi/mi_core.h"
#include "opensips/dprint.h"

namespace shim::mi {

namespace {

struct table {
	std::shared_mutex lock;
	std::vector<std::unique_ptr<cmd_entry>> cmds; // registration order
	std::unordered_map<std::string, cmd_entry *> by_full;
	std::unordered_map<std::string, std::vector<cmd_entry *>> by_local;
	std::unordered_map<std::string, std::vector<cmd_entry *>> by_alias;
	// Bumped (under the unique lock) by every change: a thread's cached
	// lookup is only used while it is unchanged.
	std::atomic<unsigned> generation{0};
};

// The last name a thread resolved to one command: a transport thread asks
// for the same few commands over and over (a monitoring loop, the bench).
struct lookup_cache {
	unsigned generation = 0;
	std::string method;
	const cmd_entry *cmd = nullptr;
};
thread_local lookup_cache t_last;

table &tbl()
{
	static table t;
	return t;
}

std::vector<std::string> full_names(const std::vector<cmd_entry *> &v)
{
	std::vector<std::string> out;
	for (auto *e : v)
		out.push_back(e->full);
	return out;
}

lookup_result from_alias(const table &t, const std::string &method)
{
	lookup_result r;
	auto it = t.by_alias.find(method);
	if (it == t.by_alias.end())
		return r;
	if (it->second.size() == 1)
		r.cmd = it->second[0];
	else
		r.ambiguous = full_names(it->second);
	return r;
}

thread_local bool t_child_inited = false;

lookup_result lookup_locked(table &t, const std::string &method);

} // namespace

lookup_result lookup(const std::string &method)
{
	table &t = tbl();
	if (t_last.cmd && t_last.generation == t.generation.load(std::memory_order_acquire) &&
	    t_last.method == method) {
		lookup_result r;
		r.cmd = t_last.cmd;
		return r;
	}
	std::shared_lock lk(t.lock);
	lookup_result r = lookup_locked(t, method);
	if (r.cmd) {
		t_last.generation = t.generation.load(std::memory_order_relaxed);
		t_last.method = method;
		t_last.cmd = r.cmd;
	}
	return r;
}

namespace {

lookup_result lookup_locked(table &t, const std::string &method)
{
	if (method.find(':') != std::string::npos) {
		auto it = t.by_full.find(method);
		if (it != t.by_full.end()) {
			lookup_result r;
			r.cmd = it->second;
			return r;
		}
		return from_alias(t, method);
	}
	auto it = t.by_local.find(method);
	if (it != t.by_local.end() && !it->second.empty()) {
		lookup_result r;
		if (it->second.size() == 1)
			r.cmd = it->second[0];
		else
			r.ambiguous = full_names(it->second);
		return r;
	}
	return from_alias(t, method);
}

} // namespace

std::vector<std::string> names_with_prefix(const std::string &prefix)
{
	table &t = tbl();
	std::shared_lock lk(t.lock);
	std::vector<std::string> out;
	for (auto &c : t.cmds)
		if (c->full.compare(0, prefix.size(), prefix) == 0)
			out.push_back(c->full);
	return out;
}

std::vector<std::string> all_names(bool with_aliases)
{
	table &t = tbl();
	std::shared_lock lk(t.lock);
	std::vector<std::string> out;
	out.reserve(t.cmds.size());
	for (auto &c : t.cmds)
		out.push_back(c->full);
	if (with_aliases) {
		// Each alias once, even when several commands share it.
		std::unordered_map<std::string, bool> seen;
		for (auto &c : t.cmds)
			for (auto &a : c->aliases)
				if (!seen[a]) {
					seen[a] = true;
					out.push_back(a);
				}
	}
	return out;
}

} // namespace shim::mi

namespace shim {

std::vector<std::string> mi_command_names()
{
	return mi::all_names(false);
}

void mi_reset()
{
	auto &t = mi::tbl();
	std::unique_lock lk(t.lock);
	t.by_full.clear();
	t.by_local.clear();
	t.by_alias.clear();
	t.cmds.clear();
	t.generation.fetch_add(1, std::memory_order_release);
}

} // namespace shim

namespace shim::mi {

template <class E>
int register_cmds(const char *mod_name, const E *cmds)
{
	if (!mod_name || !*mod_name) {
		LM_ERR("MI commands registered without a namespace\n");
		return -1;
	}
	if (!cmds)
		return 0;
	std::string ns(mod_name);
	if (ns.compare(0, 6, "proto_") == 0 && ns.size() > 6)
		ns.erase(0, 6);

	try {
		std::vector<std::unique_ptr<cmd_entry>> add;
		table &t = tbl();
		std::unique_lock lk(t.lock);
		for (const E *e = cmds; e->name; e++) {
			if (!*e->name || strchr(e->name, ':')) {
				LM_ERR("bad MI command name '%s' in '%s' (empty or has ':')\n",
				       e->name, ns.c_str());
				return -1;
			}
			auto c = std::make_unique<cmd_entry>();
			c->ns = ns;
			c->name = e->name;
			c->full = ns + ":" + e->name;
			c->exp.help = e->help;
			c->exp.flags = e->flags;
			c->exp.init_f = e->init_f;
			int nrec = 0;
			while (nrec < (int)std::size(e->recipes) && e->recipes[nrec].cmd)
				nrec++;
			c->exp.recipes.assign(e->recipes, e->recipes + nrec);
			c->exp.recipes.push_back(mi_recipe_t{});
			for (int i = 0; i < (int)std::size(e->aliases) && e->aliases[i]; i++)
				if (*e->aliases[i])
					c->aliases.emplace_back(e->aliases[i]);
			bool dup = t.by_full.count(c->full) != 0;
			for (auto &a : add)
				dup = dup || a->full == c->full;
			if (dup) {
				LM_ERR("MI command '%s' registered twice\n", c->full.c_str());
				return -1;
			}
			if (!e->recipes[0].cmd) {
				LM_ERR("MI command '%s' has no handler\n", c->full.c_str());
				return -1;
			}
			add.push_back(std::move(c));
		}
		for (auto &c : add) {
			cmd_entry *p = c.get();
			t.by_full[p->full] = p;
			t.by_local[p->name].push_back(p);
			for (auto &a : p->aliases)
				t.by_alias[a].push_back(p);
			t.cmds.push_back(std::move(c));
		}
		t.generation.fetch_add(1, std::memory_order_release);
		return 0;
	} catch (...) {
		LM_ERR("out of memory registering MI commands of '%s'\n", ns.c_str());
		return -1;
	}
}

int register_host_mi(const char *ns, const host_mi_cmd *cmds)
{
	return register_cmds(ns, cmds);
}

} // namespace shim::mi

using namespace shim::mi;

extern "C" {

int register_mi_mod(const char *mod_name, const mi_export_t *cmds)
{
	return register_cmds(mod_name, cmds);
}

// Runs every command's init_f once in the calling transport thread.
int init_mi_child(void)
{
	if (t_child_inited)
		return 0;
	t_child_inited = true;
	std::vector<mi_child_init_f *> fs;
	{
		table &t = tbl();
		std::shared_lock lk(t.lock);
		for (auto &c : t.cmds)
			if (c->exp.init_f)
				fs.push_back(c->exp.init_f);
	}
	int rc = 0;
	for (auto *f : fs)
		if (f() < 0)
			rc = -1;
	return rc;
}

} // extern "C"
