// Event Interface core: event table, parameter lists, transports,
// subscriptions and expiry, raising into per-subscriber bounded queues, the
// `EVI sender` thread. Locking and ownership: docs/internals/evi.md.
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include <map>
#include <new>
#include <unordered_map>

#include "evi/evi_allow.h"
#include "opensips/mem.h"
#include "evi/evi_internal.h"
#include "opensips/version.h"
#include "stats/stats.h"
#include "opensips/core_hooks.h"
#include "opensips/dprint.h"
#include "opensips/host.h"
#include "proc/roster.h"
#include "proc/threads.h"

namespace shim::evi {

thread_local int t_delivery_level = 0;
thread_local int t_raise_level = 0;

namespace {

constexpr int MAX_EVENTS = 4096;

// ---- event table: append-only; readers index it without a lock ----
std::atomic<event_entry *> g_events[MAX_EVENTS];
std::atomic<int> g_nevents{0};
std::mutex g_pub_mu; // publishing, g_names
auto *g_names = new std::unordered_map<std::string, int>();

// ---- transports ----
std::mutex g_tp_mu;
auto *g_tps = new std::vector<std::unique_ptr<transport>>();
std::atomic<int> g_ntps{0};
std::once_flag g_builtin_once;

// ---- every subscriber with a queue (the sender's view) ----
std::mutex g_all_mu;
auto *g_all = new std::vector<std::shared_ptr<subscriber>>();
std::atomic<unsigned long> g_all_gen{1};
struct totals {
	unsigned long long delivered = 0, dropped = 0, failed = 0;
};
auto *g_retired = new std::map<std::pair<std::string, std::string>, totals>();

// ---- the sender ----
std::mutex g_drain_mu; // one drainer at a time
auto *g_snapshot = new std::vector<std::shared_ptr<subscriber>>();
unsigned long g_snapshot_gen = 0;
std::atomic<struct ev_loop *> g_sender_loop{nullptr};
ev_async g_sender_async;

std::atomic<time_t (*)(void)> g_time_source{nullptr};

void add_builtin_transports()
{
	auto t = std::make_unique<transport>();
	t->exp = *route_transport_export();
	t->proto = std::string(t->exp.proto.s, t->exp.proto.len);
	t->exp.proto.s = t->proto.data();
	g_tps->push_back(std::move(t));
	g_ntps.store((int)g_tps->size());
}

void ensure_builtin() { std::call_once(g_builtin_once, add_builtin_transports); }

void wake_sender()
{
	struct ev_loop *l = g_sender_loop.load(std::memory_order_acquire);
	if (l)
		ev_async_send(l, &g_sender_async);
}

void free_list(evi_params_p list)
{
	if (list && (list->flags & EVI_FREE_LIST))
		evi_free_params(list);
}

// A late outcome (evi_ticket): the subscriber it belongs to. `pub` comes
// first, so the transport's evi_ticket* is the host_ticket*.
struct host_ticket {
	evi_ticket pub;
	std::shared_ptr<subscriber> sub;
};

// Under g_all_mu: one outcome for `n` events of `s` (delivered, failed or
// dropped); a subscriber already removed has its totals in g_retired.
void count_outcome_locked(subscriber &s, int outcome, unsigned long long n)
{
	if (s.folded) {
		event_entry *e = event_get(s.event);
		totals &t = (*g_retired)[{e ? e->name_buf : std::string(), s.tp->proto}];
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

void ticket_settle(evi_ticket *t, int outcome)
{
	auto *h = reinterpret_cast<host_ticket *>(t);
	if (!h)
		return;
	subscriber &s = *h->sub;
	{
		std::lock_guard<std::mutex> lk(g_all_mu);
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

void fold_retired_locked(subscriber &s)
{
	s.folded = true;
	event_entry *e = event_get(s.event);
	totals &t = (*g_retired)[{e ? e->name_buf : std::string(), s.tp->proto}];
	t.delivered += s.delivered.load();
	t.dropped += s.dropped.load();
	t.failed += s.failed.load();
}

// Frees the subscribers that were removed and whose queue is drained.
void collect_removed()
{
	std::vector<std::shared_ptr<subscriber>> gone;
	{
		std::lock_guard<std::mutex> lk(g_all_mu);
		for (size_t i = 0; i < g_all->size();) {
			auto &s = (*g_all)[i];
			if (s->removed.load(std::memory_order_acquire) && s->queue.size() == 0) {
				fold_retired_locked(*s);
				gone.push_back(std::move(s));
				g_all->erase(g_all->begin() + (long)i);
				g_all_gen.fetch_add(1);
			} else {
				i++;
			}
		}
	}
	if (gone.empty())
		return;
	// drop the sender's references too, then free the sockets
	for (size_t i = 0; i < g_snapshot->size();) {
		if ((*g_snapshot)[i]->removed.load() && (*g_snapshot)[i]->queue.size() == 0)
			g_snapshot->erase(g_snapshot->begin() + (long)i);
		else
			i++;
	}
	for (auto &s : gone) {
		if (s->tp->exp.free && s->sock)
			s->tp->exp.free(s->sock);
		s->sock = nullptr;
	}
}

void on_sender_async(struct ev_loop *loop, ev_async *w, int)
{
	const size_t budget = 8192;
	if (evi_dispatch_pending(budget) >= budget)
		ev_async_send(loop, w); // more to do: let the loop's other watchers run
}

int sender_setup()
{
	shim_log_event_suppress(1); // our own log lines never feed E_CORE_LOG
	struct ev_loop *loop = shim_thread_loop();
	ev_async_init(&g_sender_async, on_sender_async);
	ev_async_start(loop, &g_sender_async);
	g_sender_loop.store(loop, std::memory_order_release);
	ev_async_send(loop, &g_sender_async); // what was raised before we ran
	return 0;
}

void on_lifecycle(int state, void *)
{
	if (state == SHIM_STATE_TERMINATING)
		g_sender_loop.store(nullptr, std::memory_order_release);
}

void purge_timer(unsigned int, void *) { evi_purge_expired(); }

} // namespace

// ---- jobs ----

job *job_create(event_id_t id, const evi_params_t *src, int level)
{
	size_t n = 0, bytes = 0;
	if (src)
		for (const evi_param_t *p = src->first; p; p = p->next) {
			n++;
			if (p->name.s && p->name.len > 0)
				bytes += (size_t)p->name.len;
			if ((p->flags & EVI_STR_VAL) && p->val.s.s && p->val.s.len > 0)
				bytes += (size_t)p->val.s.len;
		}
	size_t size = sizeof(job) + n * sizeof(evi_param_t) + bytes;
	void *mem = malloc(size);
	if (!mem)
		return nullptr;
	job *j = new (mem) job;
	j->refs.store(1, std::memory_order_relaxed);
	j->event = id;
	j->level = level;
	j->params.flags = 0;
	j->params.first = j->params.last = nullptr;
	evi_param_t *arr = reinterpret_cast<evi_param_t *>(j + 1);
	char *data = reinterpret_cast<char *>(arr + n);
	size_t i = 0;
	if (src)
		for (const evi_param_t *p = src->first; p; p = p->next, i++) {
			evi_param_t *d = &arr[i];
			d->flags = p->flags & (EVI_INT_VAL | EVI_STR_VAL);
			d->next = nullptr;
			if (p->name.s) {
				d->name.s = data;
				d->name.len = p->name.len > 0 ? p->name.len : 0;
				if (d->name.len) memcpy(data, p->name.s, (size_t)d->name.len);
				data += d->name.len;
			} else {
				d->name.s = nullptr;
				d->name.len = 0;
			}
			if (d->flags & EVI_INT_VAL) {
				d->val.n = p->val.n;
			} else if (d->flags & EVI_STR_VAL) {
				if (p->val.s.s) {
					d->val.s.s = data;
					d->val.s.len = p->val.s.len > 0 ? p->val.s.len : 0;
					if (d->val.s.len) memcpy(data, p->val.s.s, (size_t)d->val.s.len);
					data += d->val.s.len;
				} else {
					d->val.s.s = nullptr;
					d->val.s.len = 0;
				}
			} else {
				d->val.s.s = nullptr;
				d->val.s.len = 0;
			}
			if (j->params.last) j->params.last->next = d;
			else j->params.first = d;
			j->params.last = d;
		}
	return j;
}

void job_ref(job *j) { j->refs.fetch_add(1, std::memory_order_relaxed); }

void job_unref(job *j)
{
	if (j->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
		j->~job();
		free(j);
	}
}

// ---- the queue ----

job_queue::job_queue(size_t capacity)
{
	size_t cap = 2;
	while (cap < capacity) cap <<= 1;
	// From the accounted shared pool (-m), so subscriptions are bounded
	// like the rest of shared state: a full pool refuses a subscription.
	buf_ = static_cast<cell *>(shm_malloc(cap * sizeof(cell)));
	if (!buf_) throw std::bad_alloc();
	for (size_t i = 0; i < cap; i++) {
		new (&buf_[i].seq) std::atomic<size_t>(i);
		buf_[i].data = nullptr;
	}
	mask_ = cap - 1;
}

job_queue::~job_queue()
{
	job *j;
	while (pop(j)) job_unref(j);
	shm_free(buf_);
}

bool job_queue::push(job *j)
{
	size_t pos = enq_.load(std::memory_order_relaxed);
	cell *c;
	for (;;) {
		c = &buf_[pos & mask_];
		size_t seq = c->seq.load(std::memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;
		if (dif == 0) {
			if (enq_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return false; // full
		} else {
			pos = enq_.load(std::memory_order_relaxed);
		}
	}
	c->data = j;
	c->seq.store(pos + 1, std::memory_order_release);
	return true;
}

bool job_queue::pop(job *&j)
{
	size_t pos = deq_.load(std::memory_order_relaxed);
	cell *c;
	for (;;) {
		c = &buf_[pos & mask_];
		size_t seq = c->seq.load(std::memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
		if (dif == 0) {
			if (deq_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return false; // empty
		} else {
			pos = deq_.load(std::memory_order_relaxed);
		}
	}
	j = c->data;
	c->seq.store(pos + mask_ + 1, std::memory_order_release);
	return true;
}

size_t job_queue::size() const
{
	size_t e = enq_.load(std::memory_order_acquire);
	size_t d = deq_.load(std::memory_order_acquire);
	return e > d ? e - d : 0;
}

// ---- tables ----

event_entry *event_get(event_id_t id)
{
	if (id < 0 || id >= g_nevents.load(std::memory_order_acquire))
		return nullptr;
	return g_events[id].load(std::memory_order_acquire);
}

int event_count() { return g_nevents.load(std::memory_order_acquire); }

const transport *transport_find(const str &proto)
{
	ensure_builtin();
	std::lock_guard<std::mutex> lk(g_tp_mu);
	for (auto &t : *g_tps)
		if ((int)t->proto.size() == proto.len &&
		    memcmp(t->proto.data(), proto.s, (size_t)proto.len) == 0)
			return t.get();
	return nullptr;
}

int transport_count()
{
	ensure_builtin();
	return g_ntps.load(std::memory_order_relaxed);
}

std::string socket_text(const subscriber &s)
{
	std::string r = s.tp->proto + ":";
	if (s.tp->exp.print && s.sock) {
		str p = s.tp->exp.print(s.sock);
		if (p.s && p.len > 0) r.append(p.s, (size_t)p.len);
	}
	return r;
}

bool expired_locked(const subscriber &s, time_t now)
{
	return s.expires && s.since + (time_t)s.expire < now;
}

void purge_locked(event_entry *e, time_t now)
{
	bool any = false;
	for (size_t i = 0; i < e->subs.size();) {
		if (expired_locked(*e->subs[i], now)) {
			e->subs[i]->removed.store(true, std::memory_order_release);
			e->subs.erase(e->subs.begin() + (long)i);
			any = true;
		} else {
			i++;
		}
	}
	if (any) {
		e->nsubs.store((int)e->subs.size(), std::memory_order_release);
		wake_sender(); // it frees them once their queue is drained
	}
}

} // namespace shim::evi

// ======================= host-facing API =======================

namespace shim {

using namespace evi;

time_t evi_now()
{
	time_t (*f)(void) = g_time_source.load(std::memory_order_relaxed);
	return f ? f() : time(nullptr);
}

void evi_set_time_source(time_t (*now)(void)) { g_time_source.store(now); }

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

event_id_t evi_publish_script_name(const std::string &name)
{
	str s{const_cast<char *>(name.data()), (int)name.size()};
	event_id_t id = evi_get_id(&s);
	if (id != EVI_ERROR)
		return id;
	return evi_publish_event(s);
}

int evi_subscribe(const str &event, const str &socket, unsigned int expire,
                  bool unsubscribe)
{
	str ev = event;
	event_id_t id = evi_get_id(&ev);
	event_entry *e = event_get(id);
	if (!e || !socket.s || socket.len <= 0)
		return -1;
	const char *colon = (const char *)memchr(socket.s, ':', (size_t)socket.len);
	str proto{socket.s, colon ? (int)(colon - socket.s) : socket.len};
	str rest{colon ? const_cast<char *>(colon + 1) : socket.s + socket.len,
	         colon ? socket.len - (int)(colon - socket.s) - 1 : 0};
	const transport *tp = transport_find(proto);
	if (!tp || !tp->exp.parse)
		return -1;
	if (!evi_allow_socket(std::string(proto.s, (size_t)proto.len),
	                      std::string(rest.s, (size_t)rest.len))) {
		LM_WARN("subscriber %.*s refused: outside event_subscriber_allow",
		        socket.len, socket.s);
		return -1;
	}
	evi_reply_sock *sock = tp->exp.parse(rest);
	if (!sock)
		return -1;
	time_t now = evi_now();
	if (!expire && !unsubscribe)
		sock->flags &= ~EVI_EXPIRE;
	sock->expire = expire;
	sock->subscription_time = now;
	bool expires = sock->flags & EVI_EXPIRE;

	// Allocate before taking the event's lock: the queue comes from the
	// accounted shm pool, and an allocation can raise E_CORE_SHM_THRESHOLD,
	// whose raise takes its event's lock (this very one when subscribing
	// to E_CORE_SHM_THRESHOLD).
	std::shared_ptr<subscriber> sub;
	try {
		sub = std::make_shared<subscriber>();
	} catch (...) {
		if (tp->exp.free) tp->exp.free(sock);
		return -2;
	}
	std::unique_lock<std::mutex> lk(e->mu);
	for (auto &s : e->subs) {
		if (s->tp != tp || !tp->exp.match || tp->exp.match(s->sock, sock) != 1)
			continue;
		s->since = now;
		s->sock->subscription_time = now;
		if (expires) {
			s->expires = true;
			s->expire = expire;
			s->sock->expire = expire;
			s->sock->flags = sock->flags | (s->sock->flags & EVI_PENDING);
		}
		lk.unlock();
		if (tp->exp.free) tp->exp.free(sock);
		sub.reset(); // not needed: an existing subscriber was refreshed
		return 0;
	}
	try {
		sub->event = id;
		sub->tp = tp;
		sub->sock = sock;
		sub->expires = expires;
		sub->expire = expire;
		sub->since = now;
		{
			// the sender must know it before any job can be queued to it
			std::lock_guard<std::mutex> ak(g_all_mu);
			g_all->push_back(sub);
			g_all_gen.fetch_add(1);
		}
		e->subs.insert(e->subs.begin(), sub);
	} catch (...) {
		lk.unlock();
		if (sub) sub->sock = nullptr;
		if (tp->exp.free) tp->exp.free(sock);
		return -2;
	}
	e->nsubs.store((int)e->subs.size(), std::memory_order_release);
	return 0;
}

void evi_purge_expired()
{
	time_t now = evi_now();
	int n = event_count();
	for (int i = 0; i < n; i++) {
		event_entry *e = event_get(i);
		if (!e || e->nsubs.load(std::memory_order_acquire) == 0) continue;
		std::lock_guard<std::mutex> lk(e->mu);
		purge_locked(e, now);
	}
}

size_t evi_dispatch_pending(size_t budget)
{
	std::lock_guard<std::mutex> dl(g_drain_mu);
	unsigned long gen = g_all_gen.load(std::memory_order_acquire);
	if (gen != g_snapshot_gen) {
		std::lock_guard<std::mutex> lk(g_all_mu);
		*g_snapshot = *g_all;
		g_snapshot_gen = g_all_gen.load();
	}
	size_t handled = 0;
	bool progress = true;
	while (handled < budget && progress) {
		progress = false;
		for (auto &s : *g_snapshot) {
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

std::vector<evi_counter> evi_counters()
{
	std::map<std::pair<std::string, std::string>, totals> sum;
	{
		std::lock_guard<std::mutex> lk(g_all_mu);
		sum = *g_retired;
		for (auto &s : *g_all) {
			event_entry *e = event_get(s->event);
			totals &t = sum[{e ? e->name_buf : std::string(), s->tp->proto}];
			t.delivered += s->delivered.load();
			t.dropped += s->dropped.load();
			t.failed += s->failed.load();
		}
	}
	std::vector<evi_counter> r;
	for (auto &kv : sum) {
		evi_counter c;
		c.event = kv.first.first;
		c.transport = kv.first.second;
		c.delivered = kv.second.delivered;
		c.dropped = kv.second.dropped;
		c.failed = kv.second.failed;
		r.push_back(std::move(c));
	}
	return r;
}

std::vector<evi_subscriber_stat> evi_subscriber_stats(event_id_t id)
{
	std::vector<evi_subscriber_stat> r;
	int n = event_count();
	for (int i = 0; i < n; i++) {
		if (id >= 0 && i != id) continue;
		event_entry *e = event_get(i);
		if (!e) continue;
		std::lock_guard<std::mutex> lk(e->mu);
		for (auto &s : e->subs) {
			evi_subscriber_stat st;
			st.event = e->name_buf;
			st.socket = socket_text(*s);
			st.delivered = s->delivered.load();
			st.dropped = s->dropped.load();
			st.failed = s->failed.load();
			st.queued = s->queue.size() + s->in_run.load(std::memory_order_relaxed);
			// handed to a transport that has not reported the outcome yet
			// (event_stream's Sender: buffered towards a slow peer)
			st.inflight = s->inflight.load(std::memory_order_relaxed);
			if (s->tp->exp.members) {
				evi_member_stat ms[16];
				for (auto &m : ms)
					m.size = sizeof m;
				int k = s->tp->exp.members(s->sock, ms, 16);
				for (int x = 0; x < k && x < 16; x++)
					st.members.push_back({ms[x].socket, ms[x].delivered, ms[x].failed,
					                      ms[x].dropped, ms[x].skipped != 0});
			}
			r.push_back(std::move(st));
		}
	}
	return r;
}

void evi_reset()
{
	std::lock_guard<std::mutex> dl(g_drain_mu);
	std::vector<std::shared_ptr<subscriber>> all;
	{
		std::lock_guard<std::mutex> lk(g_all_mu);
		all.swap(*g_all);
		g_retired->clear();
		g_all_gen.fetch_add(1);
	}
	g_snapshot->clear();
	g_snapshot_gen = 0;
	{
		std::lock_guard<std::mutex> lk(g_pub_mu);
		int n = g_nevents.load();
		g_nevents.store(0);
		for (int i = 0; i < n; i++) {
			event_entry *e = g_events[i].exchange(nullptr);
			delete e;
		}
		g_names->clear();
	}
	for (auto &s : all) {
		job *j;
		while (s->queue.pop(j)) job_unref(j);
		if (s->tp->exp.free && s->sock) s->tp->exp.free(s->sock);
		s->sock = nullptr;
	}
	{
		std::lock_guard<std::mutex> lk(g_tp_mu);
		ensure_builtin();
		g_tps->resize(1); // the built-in route transport stays
		g_ntps.store(1);
	}
	route_reset();
}

} // namespace shim

// ======================= module-facing C API =======================

extern "C" {

event_id_t evi_publish_event(str name)
{
	using namespace shim::evi;
	if (!name.s || name.len <= 0 || name.len > MAX_EVENT_NAME) {
		LM_ERR("bad event name (empty or longer than %d)", MAX_EVENT_NAME);
		return EVI_ERROR;
	}
	std::string n(name.s, (size_t)name.len);
	std::lock_guard<std::mutex> lk(g_pub_mu);
	auto it = g_names->find(n);
	if (it != g_names->end()) {
		LM_WARN("event '%s' is already published (id %d)", n.c_str(), it->second);
		return it->second;
	}
	int id = g_nevents.load();
	if (id >= MAX_EVENTS) {
		LM_ERR("too many events, cannot publish '%s'", n.c_str());
		return EVI_ERROR;
	}
	auto *e = new (std::nothrow) event_entry;
	if (!e) return EVI_ERROR;
	e->name_buf = n;
	e->name.s = e->name_buf.data();
	e->name.len = (int)e->name_buf.size();
	{
		const char *ln[] = {"event"};
		const char *lv[] = {n.c_str()};
		e->raised = register_item_stat("evi", "raised", "Events raised, per event", 0, 1,
		                               ln, lv);
	}
	g_events[id].store(e, std::memory_order_release);
	(*g_names)[n] = id;
	g_nevents.store(id + 1, std::memory_order_release);
	return id;
}

event_id_t evi_get_id(str *name)
{
	using namespace shim::evi;
	if (!name || !name->s || name->len <= 0) return EVI_ERROR;
	std::lock_guard<std::mutex> lk(g_pub_mu);
	auto it = g_names->find(std::string(name->s, (size_t)name->len));
	return it == g_names->end() ? EVI_ERROR : it->second;
}

int evi_probe_event(event_id_t id)
{
	using namespace shim::evi;
	event_entry *e = event_get(id);
	if (!e) return -1;
	if (e->nsubs.load(std::memory_order_relaxed) == 0) return 0;
	return transport_count();
}

const str *evi_get_event_name(event_id_t id)
{
	shim::evi::event_entry *e = shim::evi::event_get(id);
	return e ? &e->name : nullptr;
}

// A list from evi_get_params carries a few parameter slots in the same
// block (most events have at most that many): one malloc per raise instead
// of one per parameter. EVI_INLINE_SLOTS marks such a list (private bit).
namespace {
constexpr unsigned int EVI_INLINE_SLOTS = 1U << 30;
constexpr int kInline = 4;
struct params_block {
	evi_params_t list; // first: the list's address is the block's
	int used;
	evi_param_t slot[kInline];
};
bool is_inline(evi_params_p list, evi_param_p p)
{
	if (!(list->flags & EVI_INLINE_SLOTS)) return false;
	auto *b = reinterpret_cast<params_block *>(list);
	return p >= &b->slot[0] && p < &b->slot[kInline];
}
} // namespace

evi_params_p evi_get_params(void)
{
	auto *b = static_cast<params_block *>(malloc(sizeof(params_block)));
	if (!b) {
		LM_ERR("out of memory for an event parameter list");
		return nullptr;
	}
	b->list.flags = EVI_FREE_LIST | EVI_INLINE_SLOTS;
	b->list.first = b->list.last = nullptr;
	b->used = 0;
	return &b->list;
}

void evi_free_params(evi_params_p list)
{
	if (!list) return;
	evi_param_p p = list->first;
	while (p) {
		evi_param_p n = p->next;
		if (!is_inline(list, p)) free(p);
		p = n;
	}
	free(list);
}

evi_param_p evi_param_create(evi_params_p list, str *name)
{
	if (!list) return nullptr;
	evi_param_p p;
	auto *b = reinterpret_cast<params_block *>(list);
	if ((list->flags & EVI_INLINE_SLOTS) && b->used < kInline) {
		p = &b->slot[b->used++];
		memset(p, 0, sizeof *p);
	} else {
		p = static_cast<evi_param_p>(calloc(1, sizeof(evi_param_t)));
		if (!p) {
			LM_ERR("out of memory for an event parameter");
			return nullptr;
		}
	}
	if (name) p->name = *name;
	if (list->last) list->last->next = p;
	else list->first = p;
	list->last = p;
	return p;
}

int evi_param_set_int(evi_param_p param, int *value)
{
	if (!param || !value) return -1;
	param->flags = EVI_INT_VAL;
	param->val.n = *value;
	return 0;
}

int evi_param_set_str(evi_param_p param, str *value)
{
	if (!param || !value) return -1;
	param->flags = EVI_STR_VAL;
	param->val.s = *value;
	return 0;
}

void evi_param_reset(evi_param_p param)
{
	if (!param) return;
	param->flags = 0;
	param->val.s.s = nullptr;
	param->val.s.len = 0;
}

int evi_param_add_int(evi_params_p list, str *name, int *value)
{
	if (!value) return -1;
	evi_param_p p = evi_param_create(list, name);
	return p ? evi_param_set_int(p, value) : -1;
}

int evi_param_add_str(evi_params_p list, str *name, str *value)
{
	if (!value) return -1;
	evi_param_p p = evi_param_create(list, name);
	return p ? evi_param_set_str(p, value) : -1;
}

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
			j = job_create(id, params, level);
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

const evi_export_t *evi_find_transport(str proto)
{
	const shim::evi::transport *t = shim::evi::transport_find(proto);
	return t ? &t->exp : nullptr;
}

int register_event_mod(const evi_export_t *ev)
{
	using namespace shim::evi;
	if (!ev || ev->size != sizeof(evi_export_t)) {
		LM_ERR("event transport export of %u bytes, this host takes %zu (ABI %d): "
		       "rebuild the module against this host's headers",
		       ev ? ev->size : 0u, sizeof(evi_export_t), SHIM_ABI_VERSION);
		return -1;
	}
	if (!ev->proto.s || ev->proto.len <= 0 || !ev->raise || !ev->parse) {
		LM_ERR("bad event transport export");
		return -1;
	}
	ensure_builtin();
	std::lock_guard<std::mutex> lk(g_tp_mu);
	std::string proto(ev->proto.s, (size_t)ev->proto.len);
	for (auto &t : *g_tps)
		if (t->proto == proto) {
			LM_ERR("event transport '%s' is already registered", proto.c_str());
			return -1;
		}
	auto t = std::make_unique<transport>();
	t->exp = *ev;
	t->proto = proto;
	t->exp.proto.s = t->proto.data();
	g_tps->push_back(std::move(t));
	g_ntps.store((int)g_tps->size());
	return 0;
}

} // extern "C"

// ---- queue room (the profiling sender keeps sessions whole) ----

namespace shim {
size_t evi_min_queue_room(event_id_t id)
{
	event_entry *e = evi::event_get(id);
	if (!e || e->nsubs.load(std::memory_order_relaxed) == 0)
		return (size_t)-1;
	size_t room = (size_t)-1;
	std::lock_guard<std::mutex> lk(e->mu);
	for (auto &s : e->subs) {
		size_t used = s->queue.size();
		size_t free = used >= EVI_QUEUE_SIZE ? 0 : EVI_QUEUE_SIZE - used;
		if (free < room)
			room = free;
	}
	return room;
}
} // namespace shim



