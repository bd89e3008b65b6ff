// EVI subscriptions and expiry: subscribe/unsubscribe, purging expired
// subscribers, listings and counters for MI and statistics, the clock.
#include <string.h>

#include "evi/evi_allow.h"
#include "evi/evi_internal.h"
#include "opensips/dprint.h"

namespace shim::evi {

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

void purge_timer(unsigned int, void *) { evi_purge_expired(); }

} // namespace shim::evi

namespace shim {
using namespace evi;

time_t evi_now()
{
	time_t (*f)(void) = st().time_source.load(std::memory_order_relaxed);
	return f ? f() : time(nullptr);
}

void evi_set_time_source(time_t (*now)(void)) { st().time_source.store(now); }

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
			std::lock_guard<std::mutex> ak(st().all_mu);
			st().all.push_back(sub);
			st().all_gen.fetch_add(1);
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

std::vector<evi_counter> evi_counters()
{
	std::map<std::pair<std::string, std::string>, totals> sum;
	{
		std::lock_guard<std::mutex> lk(st().all_mu);
		sum = st().retired;
		for (auto &s : st().all) {
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

void evi_reset()
{
	std::lock_guard<std::mutex> dl(st().drain_mu);
	std::vector<std::shared_ptr<subscriber>> all;
	{
		std::lock_guard<std::mutex> lk(st().all_mu);
		all.swap(st().all);
		st().retired.clear();
		st().all_gen.fetch_add(1);
	}
	st().snapshot.clear();
	st().snapshot_gen = 0;
	{
		std::lock_guard<std::mutex> lk(st().pub_mu);
		int n = st().nevents.load();
		st().nevents.store(0);
		for (int i = 0; i < n; i++) {
			event_entry *e = st().events[i].exchange(nullptr);
			delete e;
		}
		st().names.clear();
	}
	for (auto &s : all) {
		job *j;
		while (s->queue.pop(j)) job_unref(j);
		if (s->tp->exp.free && s->sock) s->tp->exp.free(s->sock);
		s->sock = nullptr;
	}
	{
		std::lock_guard<std::mutex> lk(st().tp_mu);
		ensure_builtin();
		st().tps.resize(1); // the built-in route transport stays
		st().ntps.store(1);
	}
	route_reset();
}

} // namespace shim
