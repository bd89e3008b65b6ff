// The `profiling sender` thread: drains every thread's ring and hands the
// records to the sink event_profiling installed (which raises the events;
// the EVI sender then encodes and sends them). Runs on a 2 ms timer, so
// producers never wake it (no syscall on the hot path), and at most
// `max_rate` records per second: what the sender cannot take stays in the
// rings, which then fill and make producers drop whole sessions, cheaply.
#include <ev.h>

#include <mutex>

#include "opensips/core_hooks.h"
#include "opensips/host.h"
#include "opensips/sr_module.h"
#include "evi/evi_core.h"
#include "proc/roster.h"
#include "proc/threads.h"
#include "profiling/prof_core.h"
#include "profiling/prof_internal.h"

namespace shim::prof {
namespace {

std::mutex g_sink_mu; // installs vs. the drainer
shim_prof_sink g_sink{sizeof(shim_prof_sink), EVI_ERROR, EVI_ERROR, nullptr, nullptr, 0};
bool g_has_sink = false;
std::mutex g_drain_mu; // one drainer at a time

ev_timer g_tick;
double g_tokens = 0;
ev_tstamp g_last = 0;
constexpr double kTick = 0.002;
// Queue slots a session needs, at most: a UDP request at PROC level 1 with
// SCRIPT profiling makes 12 records; deep route() chains make more.
constexpr size_t kSessionRoom = 64;

void on_tick(struct ev_loop *loop, ev_timer *, int)
{
	ev_tstamp now = ev_now(loop);
	unsigned int rate;
	{
		std::lock_guard<std::mutex> lk(g_sink_mu);
		rate = g_has_sink ? g_sink.max_rate : 0;
	}
	size_t budget = (size_t)-1;
	if (rate) {
		g_tokens += (now - g_last) * rate;
		double cap = rate / 10.0 > 64 ? rate / 10.0 : 64; // 100 ms burst
		if (g_tokens > cap) g_tokens = cap;
		budget = (size_t)g_tokens;
	}
	g_last = now;
	size_t took = prof_drain(budget);
	if (rate) g_tokens -= (double)took;
}

int sender_setup()
{
	shim_log_event_suppress(1); // our own log lines never feed E_CORE_LOG
	struct ev_loop *loop = shim_thread_loop();
	g_last = ev_now(loop);
	ev_timer_init(&g_tick, on_tick, kTick, kTick);
	ev_timer_start(loop, &g_tick);
	return 0;
}

} // namespace
} // namespace shim::prof

using namespace shim::prof;

namespace shim {

size_t prof_drain(size_t budget)
{
	std::lock_guard<std::mutex> dl(g_drain_mu);
	shim_prof_sink sink;
	bool has;
	{
		std::lock_guard<std::mutex> lk(g_sink_mu);
		sink = g_sink;
		has = g_has_sink && sink.deliver;
	}
	size_t taken = 0;
	int n = g_nrings.load(std::memory_order_acquire);
	for (int i = 0; i < n && taken < budget; i++) {
		prof_ring *r = g_rings[i].load(std::memory_order_acquire);
		if (!r) continue;
		unsigned int c = r->commit.load(std::memory_order_acquire);
		unsigned int t = r->tail.load(std::memory_order_relaxed);
		bool backoff = false;
		unsigned long long sent = 0;
		while (t != c && taken < budget) {
			const shim_prof_record &rec = r->slots[t & r->mask];
			// Start a session only when every subscriber queue can take a
			// whole one; otherwise leave it in the ring (which then fills
			// and drops whole sessions at the producer) rather than send
			// half a session.
			if (has && rec.verb == SHIM_PROF_VERB_START &&
			    (evi_min_queue_room(sink.proc_event) < kSessionRoom ||
			     evi_min_queue_room(sink.script_event) < kSessionRoom)) {
				backoff = true;
				break;
			}
			t++;
			taken++;
			if (has) {
				sent++;
				if (sink.deliver(&rec, sink.param) < 0) {
					backoff = true; // the EVI queue is full: let it drain
					break;
				}
			}
		}
		r->tail.store(t, std::memory_order_release);
		if (sent)
			r->delivered.fetch_add(sent, std::memory_order_relaxed);
		if (backoff) break;
	}
	return taken;
}

int prof_start_sender_thread()
{
	int id = roster_add("profiling sender", PROC_TYPE_NONE);
	if (id < 0) return -1;
	return thread_spawn(id, PROC_MODULE, true, sender_setup);
}

} // namespace shim

extern "C" {

int shim_prof_set_sink(const struct shim_prof_sink *sink)
{
	std::lock_guard<std::mutex> lk(g_sink_mu);
	if (sink) {
		if (sink->size != sizeof(shim_prof_sink)) {
			LM_ERR("profiling sink of %u bytes, this host takes %zu: rebuild the "
			       "module against this host's headers\n", sink->size,
			       sizeof(shim_prof_sink));
			return -1;
		}
		if (g_has_sink) {
			LM_ERR("a profiling sink is installed already (one owner)\n");
			return -1;
		}
		g_sink = *sink;
		g_has_sink = true;
	} else {
		g_sink = shim_prof_sink{sizeof(shim_prof_sink), EVI_ERROR, EVI_ERROR, nullptr,
		                        nullptr, 0};
		g_has_sink = false;
	}
	g_proc_event.store(g_sink.proc_event);
	g_script_event.store(g_sink.script_event);
	return 0;
}

void shim_prof_get_totals(struct shim_prof_totals *out)
{
	if (!out) return;
	*out = shim_prof_totals{0, 0, 0, 0};
	int n = g_nrings.load(std::memory_order_acquire);
	for (int i = 0; i < n; i++) {
		prof_ring *r = g_rings[i].load(std::memory_order_acquire);
		if (!r) continue;
		out->records += r->records.load(std::memory_order_relaxed);
		out->delivered += r->delivered.load(std::memory_order_relaxed);
		out->sessions_dropped += r->sessions_dropped.load(std::memory_order_relaxed);
		out->pending += r->commit.load(std::memory_order_acquire) -
		                r->tail.load(std::memory_order_acquire);
	}
}

void shim_prof_walk_threads(shim_prof_thread_cb cb, void *param)
{
	if (!cb) return;
	int n = g_nrings.load(std::memory_order_acquire);
	for (int i = 0; i < n; i++) {
		prof_ring *r = g_rings[i].load(std::memory_order_acquire);
		if (!r) continue;
		shim::proc_entry *e = shim::roster_get(r->roster_id);
		cb(r->roster_id, r->pid, e ? e->type.c_str() : "",
		   r->records.load(std::memory_order_relaxed),
		   r->sessions_dropped.load(std::memory_order_relaxed), param);
	}
}

} // extern "C"
