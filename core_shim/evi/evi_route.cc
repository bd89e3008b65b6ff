// The built-in `route` transport (spec §2.6): `route:NAME` runs
// event_route[NAME]. Its `raise` (on the EVI sender) copies the parameters
// into a script-side job and hands it to the `event_route worker` thread,
// so a slow route never holds up the other subscribers. The worker runs the
// route with route type EVENT_ROUTE, no SIP message, E_CORE_LOG suppressed,
// and the raise's nesting level (so event loops stop at MAX_REC_LEV).
#include <ev.h>
#include <string.h>

#include <deque>

#include "api/script-t.h"
#include "evi/evi_internal.h"
#include "opensips/core_hooks.h"
#include "opensips/dprint.h"
#include "opensips/host.h"
#include "proc/roster.h"
#include "proc/threads.h"

namespace shim::evi {
namespace {
int find_route(const std::string &name)
{
	return g_script_runner.find_event_route ? g_script_runner.find_event_route(name) : -1;
}


constexpr int MAX_ROUTE_SOCKET = 256;

struct route_sock {
	evi_reply_sock sock; // first: the host hands &sock around
	std::string name;
};

struct route_job {
	int idx;
	int level;
	std::vector<script_param> params;
};

std::mutex g_mu;
auto *g_jobs = new std::deque<route_job>();
std::atomic<struct ev_loop *> g_loop{nullptr};
ev_async g_async;

evi_reply_sock *route_parse(str socket)
{
	if (!socket.s || socket.len <= 0 || socket.len > MAX_ROUTE_SOCKET)
		return nullptr;
	std::string name(socket.s, (size_t)socket.len);
	if (find_route(name) < 0) {
		LM_ERR("no event_route[%s] in the script", name.c_str());
		return nullptr;
	}
	auto *r = new (std::nothrow) route_sock;
	if (!r) return nullptr;
	r->sock.flags = 0; // route subscriptions never expire
	r->sock.expire = 0;
	r->sock.subscription_time = 0;
	r->sock.priv = nullptr;
	r->name = std::move(name);
	return &r->sock;
}

int route_match(evi_reply_sock *a, evi_reply_sock *b)
{
	return reinterpret_cast<route_sock *>(a)->name ==
	       reinterpret_cast<route_sock *>(b)->name;
}

void route_free(evi_reply_sock *s) { delete reinterpret_cast<route_sock *>(s); }

str route_print(evi_reply_sock *s)
{
	auto *r = reinterpret_cast<route_sock *>(s);
	return str{r->name.data(), (int)r->name.size()};
}

// One event to its event_route: queued for the event_route worker.
int queue_one(int idx, evi_params_t *params)
{
	route_job j;
	j.idx = idx;
	j.level = t_delivery_level;
	for (evi_param_t *p = params ? params->first : nullptr; p; p = p->next) {
		// parameters without a value are dropped: $param() gives NULL
		if (!(p->flags & (EVI_INT_VAL | EVI_STR_VAL))) continue;
		script_param sp;
		if (p->name.s) sp.name.assign(p->name.s, (size_t)p->name.len);
		if (p->flags & EVI_INT_VAL) {
			sp.is_int = true;
			sp.i = p->val.n;
			sp.s = std::to_string(p->val.n);
		} else if (p->val.s.s) {
			sp.s.assign(p->val.s.s, (size_t)p->val.s.len);
		}
		j.params.push_back(std::move(sp));
	}
	std::lock_guard<std::mutex> lk(g_mu);
	if (g_jobs->size() >= EVI_QUEUE_SIZE) return EVI_OUTCOME_FAILED;
	g_jobs->push_back(std::move(j));
	return EVI_OUTCOME_DELIVERED;
}

int route_raise(evi_delivery *d)
{
	auto *r = reinterpret_cast<route_sock *>(d->sock);
	int idx = find_route(r->name);
	if (idx < 0) {
		evi_delivery_set_all(d, EVI_OUTCOME_FAILED);
		return -1;
	}
	bool queued = false;
	for (int i = 0; i < d->count; i++) {
		d->outcomes[i] = queue_one(idx, d->events[i].params);
		queued |= d->outcomes[i] == EVI_OUTCOME_DELIVERED;
	}
	struct ev_loop *l = g_loop.load(std::memory_order_acquire);
	if (queued && l) ev_async_send(l, &g_async);
	return 0;
}

const evi_export_t g_route_export = {
    sizeof(evi_export_t), {const_cast<char *>("route"), 5}, route_raise, route_parse,
    route_match, route_free, route_print, 0, nullptr};

void on_async(struct ev_loop *loop, ev_async *w, int)
{
	const size_t budget = 256;
	if (evi_route_dispatch_pending(budget) >= budget)
		ev_async_send(loop, w);
}

int worker_setup()
{
	shim_log_event_suppress(1); // E_CORE_LOG is suppressed while routes run
	struct ev_loop *loop = shim_thread_loop();
	ev_async_init(&g_async, on_async);
	ev_async_start(loop, &g_async);
	g_loop.store(loop, std::memory_order_release);
	ev_async_send(loop, &g_async);
	return 0;
}

void on_lifecycle(int state, void *)
{
	if (state == SHIM_STATE_TERMINATING)
		g_loop.store(nullptr, std::memory_order_release);
}

} // namespace

const evi_export_t *route_transport_export() { return &g_route_export; }

bool route_worker_needed()
{
	return g_script_runner.event_route_names && !g_script_runner.event_route_names().empty();
}

int route_worker_start()
{
	shim_add_lifecycle_cb(on_lifecycle, nullptr);
	int id = roster_add("event_route worker", PROC_TYPE_NONE);
	if (id < 0) return -1;
	thread_spawn(id, PROC_MODULE, true, worker_setup);
	return 0;
}

void route_reset()
{
	std::lock_guard<std::mutex> lk(g_mu);
	g_jobs->clear();
}

} // namespace shim::evi

namespace shim {

size_t evi_route_dispatch_pending(size_t budget)
{
	using namespace evi;
	size_t n = 0;
	while (n < budget) {
		route_job j;
		{
			std::lock_guard<std::mutex> lk(g_mu);
			if (g_jobs->empty()) break;
			j = std::move(g_jobs->front());
			g_jobs->pop_front();
		}
		int saved = t_raise_level;
		t_raise_level = j.level;
		if (g_script_runner.run_event_route)
			g_script_runner.run_event_route(j.idx, j.params);
		t_raise_level = saved;
		n++;
	}
	return n;
}

} // namespace shim
