// The EVI sender: raising into the subscribers' queues, the `EVI sender`
// thread that drains them in runs handed to the transports (ABI v2), late
// outcomes (tickets), and folding removed subscribers' counters.
#include <ev.h>

#include <new>

#include "evi/evi_internal.h"
#include "opensips/core_hooks.h"
#include "opensips/dprint.h"
#include "opensips/host.h"
#include "opensips/net.h"
#include "proc/roster.h"
#include "proc/threads.h"
#include "sip/receive.h"
#include "settings/globals.h"
#include "stats/stats.h"

namespace shim::evi {

void wake_sender()
{
	struct ev_loop *l = st().sender_loop.load(std::memory_order_acquire);
	if (l)
		ev_async_send(l, &st().sender_async);
}

// Under st().all_mu: one outcome for `n` events of `s` (delivered, failed or
// dropped); a subscriber already removed has its totals in st().retired.
void count_outcome_locked(subscriber &s, int outcome, unsigned long long n)
{
	if (s.folded) {
		event_entry *e = event_get(s.event);
		totals &t = st().retired[{e ? e->name_buf : std::string(), s.tp->proto}];
		(outcome == EVI_OUTCOME_DELIVERED ? t.delivered
		 : outcome == EVI_OUTCOME_DROPPED ? t.dropped
		                                  : t.failed) += n;
		return;
	}
	(outcome == EVI_OUTCOME_DELIVERED ? s.delivered
	 : outcome == EVI_OUTCOME_DROPPED ? s.dropped
	                                  : s.failed)
	    .fetch_add(n, std::memory_order_relaxed);
}

namespace {

// A late outcome (evi_ticket): the subscriber it belongs to. `pub` comes
// first, so the transport's evi_ticket* is the host_ticket*.
struct host_ticket {
	evi_ticket pub;
	std::shared_ptr<subscriber> sub;
};

void ticket_settle(evi_ticket *t, int outcome)
{
	auto *h = reinterpret_cast<host_ticket *>(t);
	if (!h)
		return;
	subscriber &s = *h->sub;
	{
		std::lock_guard<std::mutex> lk(st().all_mu);
		s.inflight.fetch_sub(1, std::memory_order_relaxed);
		count_outcome_locked(s, outcome, 1);
	}
	delete h;
}

evi_ticket *ticket_for(const evi_delivery *d, int index)
{
	if (!d || index < 0 || index >= d->count || !d->host)
		return nullptr;
	auto *sp = static_cast<const std::shared_ptr<subscriber> *>(d->host);
	auto *h = new (std::nothrow) host_ticket{{sizeof(evi_ticket), ticket_settle}, *sp};
	if (!h)
		return nullptr;
	h->sub->inflight.fetch_add(1, std::memory_order_relaxed);
	return &h->pub;
}

constexpr size_t kRunMax = 64;
constexpr int kUnset = -1;

// Up to `max` jobs of one subscriber's queue, handed to the transport in one
// delivery (ABI v2). Returns the jobs handled.
size_t deliver_run(const std::shared_ptr<subscriber> &sp, size_t max)
{
	subscriber &s = *sp;
	if (max > kRunMax)
		max = kRunMax;
	job *jobs[kRunMax];
	size_t n = 0;
	job *j;
	while (n < max && s.queue.pop(jobs[n]))
		n++;
	if (!n)
		return 0;
	(void)j;
	// `in_run` covers the events between leaving the queue and being
	// counted, so queued + in_run + counters never miss one.
	s.in_run.fetch_add(n, std::memory_order_relaxed);
	evi_event evs[kRunMax];
	int outs[kRunMax];
	int level = 0;
	event_entry *e = event_get(s.event);
	for (size_t i = 0; i < n; i++) {
		evs[i].name = e ? &e->name : nullptr;
		evs[i].params = &jobs[i]->params;
		evs[i].callid = jobs[i]->callid;
		outs[i] = kUnset;
		if (jobs[i]->level > level)
			level = jobs[i]->level;
	}
	evi_delivery d{sizeof(evi_delivery), s.sock, (int)n, evs, outs, ticket_for,
	               (void *)&sp};
	t_delivery_level = level;
	if (e && s.tp->exp.raise)
		s.tp->exp.raise(&d);
	t_delivery_level = 0;
	unsigned long long ok = 0, failed = 0, dropped = 0;
	for (size_t i = 0; i < n; i++) {
		switch (outs[i]) {
		case EVI_OUTCOME_DELIVERED: ok++; break;
		case EVI_OUTCOME_DROPPED: dropped++; break;
		case EVI_OUTCOME_LATER: break; // counted when its ticket settles
		default: failed++; break;     // failed, or never set
		}
		job_unref(jobs[i]);
	}
	// Counters only ever grow (they are Prometheus counters).
	if (ok)
		s.delivered.fetch_add(ok, std::memory_order_relaxed);
	if (failed)
		s.failed.fetch_add(failed, std::memory_order_relaxed);
	if (dropped)
		s.dropped.fetch_add(dropped, std::memory_order_relaxed);
	s.in_run.fetch_sub(n, std::memory_order_relaxed);
	return n;
}

struct dispatch_try {
	size_t max, got;
};

int dispatch_once(void *arg)
{
	auto *d = static_cast<dispatch_try *>(arg);
	d->got = evi_dispatch_pending(d->max);
	return d->got > 0;
}

void on_sender_async(struct ev_loop *loop, ev_async *w, int)
{
	const size_t budget = 8192;
	size_t n = evi_dispatch_pending(budget);
	// busy_poll_usec: while events keep coming (one per SIP request, say),
	// wait here for the next ones instead of sleeping; raisers then find
	// the loop awake and ev_async_send costs them no syscall and no
	// wake-up. Until nothing came for that long, or the budget is spent.
	const long long poll_ns = (long long)g_globals.busy_poll_usec * 1000;
	if (n > 0 && poll_ns > 0) {
		while (n < budget) {
			dispatch_try d{budget - n, 0};
			if (!shim_busy_poll(dispatch_once, &d, poll_ns, nullptr))
				break;
			n += d.got;
		}
	}
	if (n >= budget)
		ev_async_send(loop, w); // more to do: let the loop's other watchers run
}

int sender_setup()
{
	shim_log_event_suppress(1); // our own log lines never feed E_CORE_LOG
	struct ev_loop *loop = shim_thread_loop();
	ev_async_init(&st().sender_async, on_sender_async);
	ev_async_start(loop, &st().sender_async);
	st().sender_loop.store(loop, std::memory_order_release);
	ev_async_send(loop, &st().sender_async); // what was raised before we ran
	return 0;
}

void on_lifecycle(int state, void *)
{
	if (state == SHIM_STATE_TERMINATING)
		st().sender_loop.store(nullptr, std::memory_order_release);
}

} // namespace

void fold_retired_locked(subscriber &s)
{
	s.folded = true;
	event_entry *e = event_get(s.event);
	totals &t = st().retired[{e ? e->name_buf : std::string(), s.tp->proto}];
	t.delivered += s.delivered.load();
	t.dropped += s.dropped.load();
	t.failed += s.failed.load();
}

// Frees the subscribers that were removed and whose queue is drained.
void collect_removed()
{
	std::vector<std::shared_ptr<subscriber>> gone;
	{
		std::lock_guard<std::mutex> lk(st().all_mu);
		for (size_t i = 0; i < st().all.size();) {
			auto &s = st().all[i];
			if (s->removed.load(std::memory_order_acquire) && s->queue.size() == 0) {
				fold_retired_locked(*s);
				gone.push_back(std::move(s));
				st().all.erase(st().all.begin() + (long)i);
				st().all_gen.fetch_add(1);
			} else {
				i++;
			}
		}
	}
	if (gone.empty())
		return;
	// drop the sender's references too, then free the sockets
	for (size_t i = 0; i < st().snapshot.size();) {
		if (st().snapshot[i]->removed.load() && st().snapshot[i]->queue.size() == 0)
			st().snapshot.erase(st().snapshot.begin() + (long)i);
		else
			i++;
	}
	for (auto &s : gone) {
		if (s->tp->exp.free && s->sock)
			s->tp->exp.free(s->sock);
		s->sock = nullptr;
	}
}

} // namespace shim::evi

namespace shim {
using namespace evi;

int evi_init()
{
	ensure_builtin();
	if (mi_register() < 0) {
		LM_ERR("cannot register the evi MI commands");
		return -1;
	}
	if (register_timer("evi purge", purge_timer, nullptr, 5) < 0)
		return -1;
	return 0;
}

int evi_start_sender_thread()
{
	shim_add_lifecycle_cb(on_lifecycle, nullptr);
	int id = roster_add("EVI sender", PROC_TYPE_NONE);
	if (id < 0)
		return -1;
	thread_spawn(id, PROC_MODULE, true, sender_setup);
	if (route_worker_needed() && route_worker_start() < 0)
		return -1;
	return 0;
}

size_t evi_dispatch_pending(size_t budget)
{
	std::lock_guard<std::mutex> dl(st().drain_mu);
	unsigned long gen = st().all_gen.load(std::memory_order_acquire);
	if (gen != st().snapshot_gen) {
		std::lock_guard<std::mutex> lk(st().all_mu);
		st().snapshot = st().all;
		st().snapshot_gen = st().all_gen.load();
	}
	size_t handled = 0;
	bool progress = true;
	while (handled < budget && progress) {
		progress = false;
		for (auto &s : st().snapshot) {
			// at most 64 jobs per subscriber per round, so one busy
			// subscriber does not starve the others; each queue stays in
			// order, and one run is one transport flush (one sendmmsg)
			size_t left = budget - handled;
			size_t n = deliver_run(s, left < 64 ? left : 64);
			if (n) {
				handled += n;
				progress = true;
			}
		}
	}
	collect_removed();
	return handled;
}

} // namespace shim

extern "C" {

int evi_raise_event(event_id_t id, evi_params_p params)
{
	using namespace shim::evi;
	event_entry *e = event_get(id);
	if (!e) {
		free_list(params);
		return -1;
	}
	if (e->raised)
		shim::stat_add(e->raised, 1);
	if (e->nsubs.load(std::memory_order_acquire) == 0) {
		free_list(params);
		return 0;
	}
	int level = t_raise_level + 1;
	if (level > shim::EVI_MAX_REC_LEV) {
		shim_log_event_suppress(1); // the error must not raise E_CORE_LOG
		LM_ERR("Too many nested events");
		shim_log_event_suppress(0);
		free_list(params);
		return -1;
	}
	int rc = 0;
	bool pushed = false;
	job *j = nullptr;
	{
		time_t now = shim::evi_now();
		std::lock_guard<std::mutex> lk(e->mu);
		purge_locked(e, now);
		// Every queue full (a storm the sender cannot follow): count the
		// drops without copying the parameters at all. Otherwise copy once,
		// under the lock (only raisers of this same event wait for it).
		bool room = false;
		for (auto &s : e->subs)
			if (s->queue.size() < shim::EVI_QUEUE_SIZE) {
				room = true;
				break;
			}
		if (!room) {
			for (auto &s : e->subs)
				s->dropped.fetch_add(1, std::memory_order_relaxed);
			rc = e->subs.empty() ? 0 : -1;
		} else {
			const sip_msg *cur = shim::sip_current_msg();
			str cid = cur ? cur->callid : str{nullptr, 0};
			j = job_create(id, params, level, &cid);
			if (!j) rc = -2;
		}
		if (j) for (auto &s : e->subs) {
			job_ref(j);
			if (s->queue.push(j)) {
				pushed = true;
			} else {
				j->refs.fetch_sub(1, std::memory_order_relaxed); // still ours
				s->dropped.fetch_add(1, std::memory_order_relaxed);
				rc = -1;
			}
		}
	}
	free_list(params);
	if (rc == -2) {
		LM_ERR("out of memory raising event %.*s", e->name.len, e->name.s);
		return -1;
	}
	if (j) job_unref(j);
	if (pushed) wake_sender();
	return rc;
}

} // extern "C"
