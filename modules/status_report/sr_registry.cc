// The Status/Report registry: see sr_registry.h for ownership and locking.
#include "sr_registry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <algorithm>
#include <new>
#include <utility>

#include "opensips/dprint.h"

namespace sr {

namespace {

constexpr const char k_main[] = "main";
constexpr int k_main_len = 4;

constexpr int k_max_cbs = 32;
struct status_cb_slot {
	sr_status_cb cb;
	void *param;
};

// All registry state lives in one heap object that is never destroyed:
// groups must outlive every thread that may still read them at exit, so no
// static destructor may run on them.
struct registry_state {
	// The group list: only grows (at startup), newest first.
	std::shared_mutex groups_lock;
	std::vector<group *> groups;

	// Change callbacks: appended at startup, read lock-free by writers.
	status_cb_slot cbs[k_max_cbs];
	std::atomic<int> cbs_no{0};
	std::mutex cbs_lock;

	// The core group and its `main`, kept so the shutdown transition needs
	// no lookup and no lock.
	std::atomic<group *> core{nullptr};
	std::shared_ptr<identifier> core_main;

	// Details replaced by the lock-free shutdown write: a reader may still
	// be copying them, so they are parked here, never freed.
	std::atomic<text *> graveyard{nullptr};
};
registry_state &R = *new registry_state;


bool name_eq(const std::string &a, const char *b, int len)
{
	return (int)a.size() == len && strncasecmp(a.data(), b, len) == 0;
}

// NULL (or absent) identifier means "main".
void default_id(const char *&id, int &len)
{
	if (!id || len < 0) {
		id = k_main;
		len = k_main_len;
	}
}

text *shutdown_text()
{
	// Never freed: a reader may be copying it while the process exits.
	static text *t = new text{"shutting down", true};
	return t;
}

void free_text(text *t)
{
	if (t && !t->is_static)
		delete t;
}

// Runs f(std::shared_ptr<identifier>&) with the group's identifier list
// read-locked. Returns false when the identifier is unknown.
template <typename F>
bool with_identifier(group *g, const char *id, int id_len, F &&f)
{
	default_id(id, id_len);
	std::shared_lock rl(g->ids_lock);
	for (auto &i : g->ids) {
		if (name_eq(i->name, id, id_len)) {
			f(i);
			return true;
		}
	}
	return false;
}

bool forbidden(const group *g, int is_public)
{
	return ((is_public ? 1 : 0) ^ (g->is_public ? 1 : 0)) != 0;
}

void run_callbacks(const group *g, const identifier &i, int status,
                   const char *txt, int txt_len, int old_status)
{
	int n = R.cbs_no.load(std::memory_order_acquire);
	if (n == 0)
		return;
	str gname{(char *)g->name.data(), (int)g->name.size()};
	str iname{(char *)i.name.data(), (int)i.name.size()};
	str det{(char *)txt, txt_len};
	for (int k = 0; k < n; k++)
		R.cbs[k].cb(&gname, &iname, status, txt ? &det : nullptr,
		            old_status, R.cbs[k].param);
}

} // namespace

identifier::~identifier()
{
	free_text(details.load());
}

bool is_all(const char *id, int id_len)
{
	return id && id_len == 3 && strncasecmp(id, "all", 3) == 0;
}

// ---------------------------------------------------------------- groups

group *register_group(const char *name, int len, int is_public)
{
	if (!name || len <= 0) {
		LM_ERR("cannot register a SR group without a name\n");
		return nullptr;
	}
	auto *g = new group;
	g->name.assign(name, len);
	g->is_public = is_public ? 1 : 0;
	{
		std::unique_lock wl(R.groups_lock);
		for (group *o : R.groups) {
			if (name_eq(o->name, name, len)) {
				wl.unlock();
				delete g;
				LM_ERR("SR group [%.*s] already registered\n", len, name);
				return nullptr;
			}
		}
		R.groups.insert(R.groups.begin(), g);
	}
	return g;
}

group *find_group(const char *name, int len)
{
	if (!name || len < 0)
		return nullptr;
	std::shared_lock rl(R.groups_lock);
	for (group *g : R.groups)
		if (name_eq(g->name, name, len))
			return g;
	return nullptr;
}

std::vector<group *> groups()
{
	std::shared_lock rl(R.groups_lock);
	return R.groups;
}

// ----------------------------------------------------------- identifiers

// Mirrors an identifier's status into its statistics.
void publish_status(identifier &i)
{
	int st = i.status.load();
	if (i.st_status)
		set_stat(i.st_status, st);
	if (i.st_ready)
		set_stat(i.st_ready, st > 0 ? 1 : 0);
}

int register_identifier(group *g, const char *id, int id_len, int status,
                        const char *txt, int txt_len, int max_reports)
{
	if (!g)
		return -1;
	default_id(id, id_len);
	auto i = std::make_shared<identifier>();
	i->name.assign(id, id_len);
	i->status.store(status == 0 ? 1 : status);
	if (txt && txt_len > 0)
		i->details.store(new text{std::string(txt, txt_len)});
	i->max_reports = (short)max_reports;
	if (i->max_reports > 0)
		i->ring.resize(i->max_reports);

	{
		std::unique_lock wl(g->ids_lock);
		for (auto &o : g->ids) {
			if (name_eq(o->name, id, id_len)) {
				wl.unlock();
				LM_ERR("cannot add identifier (already existing) [%.*s] to "
				       "SR group [%s]\n",
				       id_len, id, g->name.c_str());
				return -1;
			}
		}
		g->ids.insert(g->ids.begin(), i);
	}
	const char *ln[] = {"group", "identifier"};
	const char *lv[] = {g->name.c_str(), i->name.c_str()};
	i->st_status = register_item_stat("sr", "status",
	                                  "Status of a status-report identifier", STAT_NO_RESET,
	                                  2, ln, lv);
	i->st_ready = register_item_stat(
	    "sr", "ready", "1 when the status-report identifier is ready (status > 0)",
	    STAT_NO_RESET, 2, ln, lv);
	publish_status(*i);
	return 0;
}

int unregister_identifier(group *g, const char *id, int id_len)
{
	if (!g)
		return -1;
	default_id(id, id_len);
	std::shared_ptr<identifier> gone; // freed after the lock is released
	{
		std::unique_lock wl(g->ids_lock);
		auto it = std::find_if(g->ids.begin(), g->ids.end(), [&](auto &i) {
			return name_eq(i->name, id, id_len);
		});
		if (it != g->ids.end()) {
			gone = std::move(*it);
			g->ids.erase(it);
		}
	}
	if (!gone) {
		LM_BUG("identifier [%.*s] not found in SR group [%s]\n", id_len, id,
		       g->name.c_str());
		return -1;
	}
	return 0;
}

std::shared_ptr<identifier> find_identifier(group *g, const char *id,
                                            int id_len)
{
	std::shared_ptr<identifier> r;
	if (g)
		with_identifier(g, id, id_len, [&](auto &i) { r = i; });
	return r;
}

std::vector<std::string> identifier_names(group *g)
{
	std::vector<std::string> v;
	std::shared_lock rl(g->ids_lock);
	v.reserve(g->ids.size());
	for (auto &i : g->ids)
		v.push_back(i->name);
	return v;
}

namespace {

void take_snapshot(identifier &i, bool with_reports, id_snapshot &out)
{
	out.name = i.name;
	std::lock_guard l(i.lock);
	out.status = i.status.load();
	text *t = i.details.load();
	out.has_details = t != nullptr;
	if (t)
		out.details = t->s;
	if (with_reports && i.first >= 0) {
		int n = i.max_reports;
		for (int k = i.first;; k = (k + 1) % n) {
			out.reports.push_back(i.ring[k]);
			if (k == i.last)
				break;
		}
	}
}

} // namespace

std::vector<id_snapshot> snapshot_all(group *g, bool with_reports)
{
	std::vector<id_snapshot> v;
	std::shared_lock rl(g->ids_lock);
	v.resize(g->ids.size());
	for (size_t k = 0; k < g->ids.size(); k++)
		take_snapshot(*g->ids[k], with_reports, v[k]);
	return v;
}

bool snapshot(group *g, const char *id, int id_len, bool with_reports,
              id_snapshot &out)
{
	return with_identifier(g, id, id_len, [&](auto &i) {
		take_snapshot(*i, with_reports, out);
	});
}

// -------------------------------------------------------- writes, reads

int set_status(group *g, const char *id, int id_len, int status,
               const char *txt, int txt_len, int is_public)
{
	if (!g)
		return -1;
	default_id(id, id_len);
	if (forbidden(g, is_public)) {
		LM_ERR("forbidden setting status for identifier [%.*s] in SR group "
		       "[%s]\n",
		       id_len, id, g->name.c_str());
		return -1;
	}
	if (status == 0)
		status = SR_STATUS_READY;
	if (!txt || txt_len <= 0) {
		txt = nullptr;
		txt_len = 0;
	}
	text *nt = txt ? new text{std::string(txt, txt_len)} : nullptr;
	text *ot = nullptr;
	int old = 0;
	std::shared_ptr<identifier> keep; // for the callbacks, outside locks
	bool found = with_identifier(g, id, id_len, [&](auto &i) {
		{
			std::lock_guard l(i->lock);
			old = i->status.load();
			i->status.store(status);
			publish_status(*i);
			ot = i->details.exchange(nt);
		}
		if (old != status && R.cbs_no.load(std::memory_order_acquire) > 0)
			keep = i;
	});
	if (!found) {
		free_text(nt);
		LM_ERR("identifier [%.*s] not found in SR group [%s]\n", id_len, id,
		       g->name.c_str());
		return -1;
	}
	free_text(ot);
	if (keep)
		run_callbacks(g, *keep, status, txt, txt_len, old);
	return 0;
}

int add_report(group *g, const char *id, int id_len, const char *rep,
               int rep_len, int is_public)
{
	if (!g)
		return -1;
	default_id(id, id_len);
	if (forbidden(g, is_public)) {
		LM_ERR("forbidden adding report to identifier [%.*s] in SR group "
		       "[%s]\n",
		       id_len, id, g->name.c_str());
		return -1;
	}
	std::string r;
	if (rep && rep_len > 0)
		r.assign(rep, rep_len);
	time_t now = time(nullptr);
	bool refused = false;
	bool found = with_identifier(g, id, id_len, [&](auto &ip) {
		identifier &i = *ip;
		int n = i.max_reports;
		if (n <= 0) {
			refused = true;
			return;
		}
		std::lock_guard l(i.lock);
		if (i.first < 0) {
			i.first = i.last = 0;
		} else {
			i.last = (i.last + 1) % n;
			if (i.last == i.first) // full: drop the oldest
				i.first = (i.first + 1) % n;
		}
		// The slot's previous text leaves in `r` and is freed after unlock.
		std::swap(i.ring[i.last].log, r);
		i.ring[i.last].ts = now;
	});
	if (!found) {
		LM_ERR("identifier [%.*s] not found in SR group [%s]\n", id_len, id,
		       g->name.c_str());
		return -1;
	}
	if (refused) {
		LM_ERR("identifier [%.*s] in SR group [%s] does not accept reports\n",
		       id_len, id, g->name.c_str());
		return -1;
	}
	return 0;
}

int get_status(group *g, const char *id, int id_len)
{
	if (!g)
		return SR_STATUS_NOT_FOUND;
	if (is_all(id, id_len)) {
		std::shared_lock rl(g->ids_lock);
		for (auto &i : g->ids)
			if (i->status.load(std::memory_order_relaxed) < 0)
				return SR_STATUS_NOT_READY;
		return SR_STATUS_READY;
	}
	int st = SR_STATUS_NOT_FOUND;
	with_identifier(g, id, id_len, [&](auto &i) {
		st = i->status.load(std::memory_order_relaxed);
	});
	return st;
}

// -------------------------------------------------------------- callbacks

int register_status_cb(sr_status_cb cb, void *param)
{
	if (!cb)
		return -1;
	std::lock_guard l(R.cbs_lock);
	int n = R.cbs_no.load();
	if (n >= k_max_cbs) {
		LM_ERR("too many SR status callbacks (max %d)\n", k_max_cbs);
		return -1;
	}
	R.cbs[n] = {cb, param};
	R.cbs_no.store(n + 1, std::memory_order_release);
	return 0;
}

// -------------------------------------------------------------- core group

int core_init()
{
	if (R.core.load())
		return 0;
	group *g = register_group("core", 4, 0);
	if (!g)
		return -1;
	if (register_identifier(g, k_main, k_main_len, -100, nullptr, 0, 10) < 0)
		return -1;
	R.core_main = find_identifier(g, k_main, k_main_len);
	R.core.store(g);
	return 0;
}

group *core_group()
{
	return R.core.load();
}

void core_set_state(int state)
{
	group *g = R.core.load();
	if (!g)
		return;
	switch (state) {
	case SHIM_STATE_INITIALIZING:
		set_status(g, k_main, k_main_len, -1, "initializing", 12, 0);
		add_report(g, k_main, k_main_len, "initializing", 12, 0);
		break;
	case SHIM_STATE_RUNNING:
		set_status(g, k_main, k_main_len, 1, "running", 7, 0);
		add_report(g, k_main, k_main_len,
		           "initialization completed, ready now", 35, 0);
		break;
	case SHIM_STATE_TERMINATING:
		// No lock, no callback (decisions §4). The old details go to the
		// graveyard: a reader may be copying them right now.
		if (R.core_main) {
			R.core_main->status.store(-2);
			publish_status(*R.core_main);
			text *old = R.core_main->details.exchange(shutdown_text());
			if (old && !old->is_static) {
				old->next = R.graveyard.load();
				while (!R.graveyard.compare_exchange_weak(old->next, old))
					;
			}
		}
		break;
	default:
		break;
	}
}

void reset_for_tests()
{
	std::unique_lock wl(R.groups_lock);
	for (group *g : R.groups)
		delete g;
	R.groups.clear();
	R.cbs_no.store(0);
	R.core.store(nullptr);
	R.core_main.reset();
}

void release_at_exit()
{
	reset_for_tests();
	for (text *t = R.graveyard.exchange(nullptr); t;) {
		text *next = t->next;
		if (!t->is_static)
			delete t;
		t = next;
	}
	// Every thread has stopped (destroy_f runs after the host joined them):
	// nothing can read the registry any more.
	delete &R;
}

// ------------------------------------------------------- the C API table

namespace {

// No exception crosses the C ABI: allocation failures become NULL / -1.
template <typename R, typename F> R no_throw(R fail, F &&f)
{
	try {
		return f();
	} catch (const std::bad_alloc &) {
		LM_ERR("out of memory in the SR registry\n");
	} catch (...) {
		LM_ERR("unexpected error in the SR registry\n");
	}
	return fail;
}

void *api_register_group(const char *name, int len, int is_public)
{
	return no_throw<void *>(nullptr, [&] {
		return (void *)register_group(name, len, is_public);
	});
}

void *api_get_group_by_name(const char *name, int len)
{
	return (void *)find_group(name, len);
}

int api_register_identifier(void *grp, const char *id, int id_len,
                            int init_status, const char *txt, int txt_len,
                            int max_reports)
{
	return no_throw(-1, [&] {
		return register_identifier((group *)grp, id, id_len, init_status,
		                           txt, txt_len, max_reports);
	});
}

void *api_register_group_with_identifier(const char *name, int len,
                                         int is_public, const char *id,
                                         int id_len, int init_status,
                                         const char *txt, int txt_len,
                                         int max_reports)
{
	return no_throw<void *>(nullptr, [&]() -> void * {
		group *g = register_group(name, len, is_public);
		if (!g)
			return nullptr;
		if (register_identifier(g, id, id_len, init_status, txt, txt_len,
		                        max_reports) < 0)
			return nullptr;
		return g;
	});
}

int api_unregister_identifier(void *grp, const char *id, int id_len)
{
	return no_throw(-1, [&] {
		return unregister_identifier((group *)grp, id, id_len);
	});
}

int api_set_status(void *grp, const char *id, int id_len, int status,
                   const char *txt, int txt_len, int is_public)
{
	return no_throw(-1, [&] {
		return set_status((group *)grp, id, id_len, status, txt, txt_len,
		                  is_public);
	});
}

int api_add_report(void *grp, const char *id, int id_len, const char *rep,
                   int rep_len, int is_public)
{
	return no_throw(-1, [&] {
		return add_report((group *)grp, id, id_len, rep, rep_len, is_public);
	});
}

__attribute__((format(printf, 5, 6))) int
api_add_report_fmt(void *grp, const char *id, int id_len, int is_public,
                   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[256];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	int rc = -1;
	if (n < 0) {
		LM_ERR("bad report format\n");
	} else if (n < (int)sizeof small) {
		rc = api_add_report(grp, id, id_len, small, n, is_public);
	} else {
		char *big = (char *)malloc((size_t)n + 1);
		if (big) {
			vsnprintf(big, (size_t)n + 1, fmt, ap2);
			rc = api_add_report(grp, id, id_len, big, n, is_public);
			free(big);
		} else {
			LM_ERR("out of memory for a SR report\n");
		}
	}
	va_end(ap2);
	return rc;
}

int api_get_status(void *grp, const char *id, int id_len)
{
	return get_status((group *)grp, id, id_len);
}

int api_register_status_cb(sr_status_cb cb, void *param)
{
	return register_status_cb(cb, param);
}

// Visits copies taken under each identifier's lock, so the visitor runs
// with no registry lock held.
void api_walk(sr_walk_cb cb, void *param)
{
	if (!cb)
		return;
	for (group *g : groups()) {
		str gname{(char *)g->name.data(), (int)g->name.size()};
		for (const id_snapshot &s : snapshot_all(g, false)) {
			str iname{(char *)s.name.data(), (int)s.name.size()};
			str det{(char *)s.details.data(), (int)s.details.size()};
			cb(&gname, &iname, s.status, s.has_details ? &det : nullptr, param);
		}
	}
}

} // namespace

const struct sr_api api_table = {
	sizeof(struct sr_api),              /* size */
	api_register_group,                 /* register_group */
	api_get_group_by_name,              /* get_group_by_name */
	api_register_identifier,            /* register_identifier */
	api_register_group_with_identifier, /* register_group_with_identifier */
	api_unregister_identifier,          /* unregister_identifier */
	api_set_status,                     /* set_status */
	api_add_report,                     /* add_report */
	api_add_report_fmt,                 /* add_report_fmt */
	api_get_status,                     /* get_status */
	api_register_status_cb,             /* register_status_cb */
	api_walk,                           /* walk */
};

} // namespace sr
