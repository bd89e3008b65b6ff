#include "stats/stats.h"

#include <string.h>
#include <strings.h>

#include <deque>
#include <mutex>
#include <unordered_map>

#include "opensips/dprint.h"

namespace shim {

thread_local stat_shard *t_stat_shard = nullptr;

namespace {

// Registry state; every field under g_mu. Statistics are never freed
// before stats_destroy(), so pointers handed out stay valid.
struct registry {
	std::mutex mu;
	std::deque<stat_var_ *> all;                          // registration order
	std::vector<std::pair<std::string, std::vector<stat_var_ *>>> groups;
	std::unordered_map<std::string, stat_var_ *> by_qualified; // "group:name", group lower-case
	std::unordered_map<std::string, stat_var_ *> by_name;      // first of each bare name
	uint32_t next_slot = 0;
	std::vector<stat_shard *> shards;
	stat_proc_describer describe = nullptr;
};
registry &reg()
{
	static registry *r = new registry; // lives until stats_destroy()
	return *r;
}

std::string lower(const std::string &s)
{
	std::string o = s;
	for (char &c : o)
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
	return o;
}

bool valid_name(const char *s)
{
	return s && *s && !strchr(s, '\n');
}

// Reads the raw sum of a slot over every shard. Caller holds no lock: the
// shard list only grows, and is read under the lock once per call.
long long slot_sum(uint32_t slot)
{
	std::vector<stat_shard *> shards;
	{
		std::lock_guard<std::mutex> lk(reg().mu);
		shards = reg().shards;
	}
	long long sum = 0;
	unsigned ci = slot >> kStatChunkBits;
	for (stat_shard *s : shards) {
		std::atomic<long long> *c = s->chunks[ci].load(std::memory_order_acquire);
		if (c)
			sum += c[slot & (kStatChunk - 1)].load(std::memory_order_relaxed);
	}
	return sum;
}

std::vector<stat_var_ *> &group_list(registry &r, const std::string &group)
{
	for (auto &g : r.groups)
		if (strcasecmp(g.first.c_str(), group.c_str()) == 0)
			return g.second;
	r.groups.emplace_back(group, std::vector<stat_var_ *>());
	return r.groups.back().second;
}

// Registers (or finds) a statistic. Caller fills the kind-specific fields
// through `init` while the lock is held, only for a new statistic.
template <class F>
stat_var_ *add(const std::string &group, const std::string &name, unsigned short flags,
               F init, bool *existed = nullptr)
{
	registry &r = reg();
	std::lock_guard<std::mutex> lk(r.mu);
	std::string key = lower(group) + ":" + name;
	auto it = r.by_qualified.find(key);
	if (it != r.by_qualified.end()) {
		if (existed)
			*existed = true;
		stat_var_ *v = it->second;
		if ((v->flags & STAT_IS_FUNC) != (flags & STAT_IS_FUNC)) {
			LM_ERR("statistic %s:%s exists with another kind\n", group.c_str(),
			       name.c_str());
			return nullptr;
		}
		return v;
	}
	if (!(flags & STAT_IS_FUNC) && r.next_slot >= kStatChunk * kStatMaxChunks) {
		LM_ERR("too many statistics (%u): %s:%s not registered\n", r.next_slot,
		       group.c_str(), name.c_str());
		return nullptr;
	}
	auto *v = new stat_var_;
	v->group = group;
	v->name = name;
	v->family = name;
	v->flags = flags;
	if (!(flags & STAT_IS_FUNC))
		v->slot = r.next_slot++;
	init(v);
	r.all.push_back(v);
	group_list(r, group).push_back(v);
	r.by_qualified.emplace(key, v);
	r.by_name.emplace(name, v);
	return v;
}

} // namespace

stat_shard *stat_shard_create()
{
	auto *s = new stat_shard;
	for (auto &c : s->chunks)
		c.store(nullptr, std::memory_order_relaxed);
	{
		std::lock_guard<std::mutex> lk(reg().mu);
		reg().shards.push_back(s);
	}
	t_stat_shard = s;
	return s;
}

std::atomic<long long> *stat_chunk_create(stat_shard *s, unsigned chunk)
{
	auto *c = new std::atomic<long long>[kStatChunk];
	for (unsigned i = 0; i < kStatChunk; i++)
		c[i].store(0, std::memory_order_relaxed);
	s->chunks[chunk].store(c, std::memory_order_release);
	return c;
}

namespace {
std::mutex g_refresh_mu;
std::vector<void (*)()> g_refreshers;
thread_local bool t_refreshing = false;

// Lets owners of per-item statistics register the items that appeared
// since the last read, before a reader walks the registry.
void run_refreshers()
{
	if (t_refreshing)
		return;
	std::vector<void (*)()> fs;
	{
		std::lock_guard<std::mutex> lk(g_refresh_mu);
		fs = g_refreshers;
	}
	t_refreshing = true;
	for (auto f : fs)
		f();
	t_refreshing = false;
}
} // namespace

void stats_add_refresher(void (*f)())
{
	std::lock_guard<std::mutex> lk(g_refresh_mu);
	g_refreshers.push_back(f);
}

std::vector<stat_var_ *> stats_snapshot()
{
	run_refreshers();
	registry &r = reg();
	std::lock_guard<std::mutex> lk(r.mu);
	std::vector<stat_var_ *> out;
	out.reserve(r.all.size());
	for (auto &g : r.groups)
		out.insert(out.end(), g.second.begin(), g.second.end());
	return out;
}

std::vector<stat_var_ *> stats_group(const std::string &group)
{
	run_refreshers();
	registry &r = reg();
	std::lock_guard<std::mutex> lk(r.mu);
	for (auto &g : r.groups)
		if (strcasecmp(g.first.c_str(), group.c_str()) == 0)
			return g.second;
	return {};
}

stat_var_ *stats_find(const std::string &name, bool qualified)
{
	run_refreshers();
	registry &r = reg();
	std::lock_guard<std::mutex> lk(r.mu);
	if (qualified) {
		size_t colon = name.find(':');
		if (colon == std::string::npos)
			return nullptr;
		auto it = r.by_qualified.find(lower(name.substr(0, colon)) + name.substr(colon));
		return it == r.by_qualified.end() ? nullptr : it->second;
	}
	auto it = r.by_name.find(name);
	return it == r.by_name.end() ? nullptr : it->second;
}

void stats_set_proc_describer(stat_proc_describer f)
{
	std::lock_guard<std::mutex> lk(reg().mu);
	reg().describe = f;
}

void stats_fill_info(stat_var_ *v, struct stat_info *o)
{
	o->size = sizeof(struct stat_info);
	o->group = v->group.c_str();
	o->name = v->name.c_str();
	o->family = v->family.c_str();
	o->help = v->help.empty() ? nullptr : v->help.c_str();
	o->flags = v->flags;
	o->incremental = stat_incremental(v);
	o->proc_id = v->proc_id;
	o->proc_pid = 0;
	o->proc_desc = "";
	if (v->proc_id >= 0) {
		stat_proc_describer d;
		{
			std::lock_guard<std::mutex> lk(reg().mu);
			d = reg().describe;
		}
		if (d)
			d(v->proc_id, &o->proc_pid, &o->proc_desc);
	}
	o->nlabels = (int)v->label_names.size();
	o->label_names = v->label_name_ptrs.data();
	o->label_values = v->label_value_ptrs.data();
	o->value = get_stat_val(v);
}

int stats_register_exports(const char *module, const stat_export_t *exports)
{
	for (const stat_export_t *e = exports; e && e->name; e++) {
		int rc = (e->flags & STAT_IS_FUNC)
		             ? register_stat2(module, e->name, e->stat_pointer, e->flags, nullptr, 0)
		             : register_stat(module, e->name, e->stat_pointer, e->flags);
		if (rc < 0)
			return -1;
	}
	return 0;
}

void stats_destroy()
{
	registry &r = reg();
	std::lock_guard<std::mutex> lk(r.mu);
	for (stat_var_ *v : r.all)
		delete v;
	r.all.clear();
	r.groups.clear();
	r.by_qualified.clear();
	r.by_name.clear();
	r.next_slot = 0;
	for (stat_shard *s : r.shards) {
		for (auto &c : s->chunks)
			delete[] c.load();
		delete s;
	}
	r.shards.clear();
	t_stat_shard = nullptr;
}

} // namespace shim

using namespace shim;

extern "C" {

int register_stat2(const char *group, const char *name, stat_var **pvar,
                   unsigned short flags, void *ctx, int)
{
	if (!valid_name(group) || !valid_name(name) || !pvar) {
		LM_ERR("bad statistic registration (%s:%s)\n", group ? group : "?",
		       name ? name : "?");
		return -1;
	}
	stat_var_ *v;
	if (flags & STAT_IS_FUNC) {
		auto fn = (stat_function)(void *)pvar;
		v = add(group, name, flags, [&](stat_var_ *n) {
			n->fn = fn;
			n->fn_param = ctx;
		});
		return v ? 0 : -1;
	}
	v = add(group, name, flags, [](stat_var_ *) {});
	if (!v)
		return -1;
	*pvar = v;
	return 0;
}

int register_stat(const char *group, const char *name, stat_var **pvar,
                  unsigned short flags)
{
	return register_stat2(group, name, pvar, flags, nullptr, 0);
}

stat_var *register_proc_stat(const char *group, const char *name, const char *family,
                             int proc_id, unsigned short flags, stat_function f,
                             void *param)
{
	if (!valid_name(group) || !valid_name(name) || !valid_name(family))
		return nullptr;
	if (f)
		flags |= STAT_IS_FUNC;
	return add(group, name, flags, [&](stat_var_ *n) {
		n->family = family;
		n->proc_id = proc_id;
		n->fn = f;
		n->fn_param = param;
	});
}

stat_var *register_item_func_stat(const char *group, const char *family, const char *help,
                                  unsigned short flags, int nlabels,
                                  const char *const *label_names,
                                  const char *const *label_values, stat_function f,
                                  void *param)
{
	if (!valid_name(group) || !valid_name(family) || nlabels < 0 ||
	    (nlabels && (!label_names || !label_values)) || ((flags & STAT_IS_FUNC) && !f))
		return nullptr;
	if (f)
		flags |= STAT_IS_FUNC;
	std::string name = family;
	for (int i = 0; i < nlabels; i++) {
		if (!label_names[i] || !label_values[i])
			return nullptr;
		name += '/';
		name += label_values[i];
	}
	return add(group, name, flags, [&](stat_var_ *n) {
		n->family = family;
		n->fn = f;
		n->fn_param = param;
		if (help)
			n->help = help;
		for (int i = 0; i < nlabels; i++) {
			n->label_names.emplace_back(label_names[i]);
			n->label_values.emplace_back(label_values[i]);
		}
		for (int i = 0; i < nlabels; i++) {
			n->label_name_ptrs.push_back(n->label_names[(size_t)i].c_str());
			n->label_value_ptrs.push_back(n->label_values[(size_t)i].c_str());
		}
	});
}

stat_var *register_item_stat(const char *group, const char *family, const char *help,
                             unsigned short flags, int nlabels,
                             const char *const *label_names,
                             const char *const *label_values)
{
	if (flags & STAT_IS_FUNC)
		return nullptr;
	return register_item_func_stat(group, family, help, flags, nlabels, label_names,
	                               label_values, nullptr, nullptr);
}

void update_stat(stat_var *var, long n)
{
	if (var && !(var->flags & STAT_IS_FUNC))
		stat_add(var, n);
}

void reset_stat(stat_var *var)
{
	if (!var || !stat_incremental(var))
		return;
	long long now = (var->flags & STAT_IS_FUNC)
	                    ? (long long)(var->fn ? var->fn(var->fn_param) : 0)
	                    : slot_sum(var->slot);
	var->reset_base.store(now, std::memory_order_relaxed);
}

void set_stat(stat_var *var, long value)
{
	if (var && !(var->flags & STAT_IS_FUNC))
		var->absolute.store(value - slot_sum(var->slot), std::memory_order_relaxed);
}

unsigned long get_stat_val(stat_var *var)
{
	if (!var)
		return 0;
	if (var->flags & STAT_IS_FUNC) {
		unsigned long v = var->fn ? var->fn(var->fn_param) : 0;
		if (var->flags & STAT_COUNTER)
			v -= (unsigned long)var->reset_base.load(std::memory_order_relaxed);
		return v;
	}
	long long v = slot_sum(var->slot) + var->absolute.load(std::memory_order_relaxed) -
	              var->reset_base.load(std::memory_order_relaxed);
	return (unsigned long)v;
}

stat_var *get_stat(const char *name)
{
	if (!name)
		return nullptr;
	std::string n = name;
	size_t colon = n.find(':');
	if (colon != std::string::npos && colon + 1 < n.size())
		return stats_find(n, true);
	return stats_find(n, false);
}

void stats_walk(stat_visit_f f, void *param)
{
	if (!f)
		return;
	for (stat_var_ *v : stats_snapshot()) {
		struct stat_info si;
		stats_fill_info(v, &si);
		if (f(&si, param))
			break;
	}
}

} // extern "C"
