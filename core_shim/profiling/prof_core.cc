// Profiling hot path: the per-thread ring, the PROC session state machine
// (depth and deferral rules of spec §4.3) and SCRIPT records.
//
// Ownership: each ring has one producer (the thread that owns it) and one
// consumer (the profiling sender, or a test calling prof_drain). The
// producer writes records past `commit` and publishes them by moving
// `commit` when its outermost session ends, so the consumer only ever sees
// whole sessions; when the ring is full the producer rolls back to `commit`,
// counts every session that had records there as dropped, and skips the
// rest of the open sessions until their end.
#include "profiling/prof_core.h"

#include <time.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_set>

#include "opensips/evi.h"
#include "opensips/host.h"
#include "profiling/prof_internal.h"
#include "proc/roster.h"

// ---- exported hot-path state (profiling.h) ----
extern "C" {
int shim_prof_proc_armed = 0;
__thread int shim_prof_session_level = 0;
}

namespace shim::prof {

std::mutex g_rings_mu;
std::atomic<prof_ring *> g_rings[kMaxRings];
std::atomic<int> g_nrings{0};
std::atomic<event_id_t> g_proc_event{EVI_ERROR};
std::atomic<event_id_t> g_script_event{EVI_ERROR};
std::atomic<int> g_force_proc{-1}, g_force_script{-1};
std::atomic<unsigned int> g_test_ring_size{0};

namespace {

prof_ring *g_by_roster[1024];

constexpr int kHeld = 16;

// The calling thread's profiling state. Only this thread touches it.
struct thread_state {
	prof_ring *ring = nullptr;
	// PROC session
	bool proc_open = false;
	bool proc_dropped = false;
	bool proc_pushed = false;
	int depth = 0;
	int type = 0;
	int pid = 0;
	const char *start_name = nullptr;
	shim_prof_record held[kHeld];
	int nheld = 0;
	// SCRIPT sessions (a top-level route run; may nest)
	int script_open = 0;
	bool script_dropped = false;
	bool script_pushed = false;
	// sessions that ended since the last commit and have records there
	unsigned int completed = 0;
};

thread_local thread_state t_st;

prof_ring *ring_new(unsigned int size, int roster_id)
{
	auto *r = new (std::nothrow) prof_ring;
	if (!r) return nullptr;
	r->slots = static_cast<shim_prof_record *>(
	    calloc(size, sizeof(shim_prof_record)));
	if (!r->slots) {
		delete r;
		return nullptr;
	}
	r->mask = size - 1;
	r->roster_id = roster_id;
	return r;
}

// The calling thread's ring, made on first use (one allocation per
// thread; a reused roster slot reuses its ring).
prof_ring *my_ring()
{
	if (t_st.ring) return t_st.ring;
	proc_entry *self = roster_self();
	std::lock_guard<std::mutex> lk(g_rings_mu);
	prof_ring *r = nullptr;
	if (self && self->id >= 0 && self->id < 1024 && g_by_roster[self->id]) {
		r = g_by_roster[self->id];
		r->head = r->commit.load(std::memory_order_relaxed);
	} else {
		int n = g_nrings.load(std::memory_order_relaxed);
		if (n >= kMaxRings) return nullptr;
		unsigned int size = g_test_ring_size.load();
		r = ring_new(size ? size : PROF_RING_SIZE, self ? self->id : -1);
		if (!r) return nullptr;
		if (self && self->id >= 0 && self->id < 1024)
			g_by_roster[self->id] = r;
		g_rings[n].store(r, std::memory_order_release);
		g_nrings.store(n + 1, std::memory_order_release);
	}
	r->pid = shim_my_pid();
	t_st.ring = r;
	return r;
}

inline void stamp(shim_prof_record &r)
{
	timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); // vDSO: no syscall
	r.sec = ts.tv_sec;
	r.usec = (int)(ts.tv_nsec / 1000);
}

// Everything since the last commit is lost: count the sessions that had
// records there (ended ones, and the open ones, which are skipped until
// their end).
void drop_uncommitted(prof_ring *r)
{
	unsigned long long n = t_st.completed;
	if (t_st.proc_open && !t_st.proc_dropped) {
		n++;
		t_st.proc_dropped = true;
		t_st.nheld = 0;
	}
	if (t_st.script_open && !t_st.script_dropped) {
		n++;
		t_st.script_dropped = true;
	}
	t_st.completed = 0;
	r->head = r->commit.load(std::memory_order_relaxed);
	r->sessions_dropped.fetch_add(n, std::memory_order_relaxed);
}

// Appends one record (not yet visible to the consumer). false: ring full,
// the open sessions are now dropped.
bool push(const shim_prof_record &rec)
{
	prof_ring *r = my_ring();
	if (!r) {
		t_st.proc_dropped = t_st.proc_open;
		t_st.script_dropped = t_st.script_open > 0;
		return false;
	}
	if (r->head - r->cached_tail > r->mask) {
		r->cached_tail = r->tail.load(std::memory_order_acquire);
		if (r->head - r->cached_tail > r->mask) {
			drop_uncommitted(r);
			return false;
		}
	}
	r->slots[r->head & r->mask] = rec;
	r->head++;
	r->records.store(r->records.load(std::memory_order_relaxed) + 1,
	                 std::memory_order_relaxed);
	return true;
}

// Publishes what was written when no session is open any more.
void maybe_commit()
{
	if (t_st.proc_open || t_st.script_open) return;
	t_st.completed = 0;
	if (t_st.ring)
		t_st.ring->commit.store(t_st.ring->head, std::memory_order_release);
}

bool proc_subscribed()
{
	int f = g_force_proc.load(std::memory_order_relaxed);
	if (f >= 0) return f > 0;
	return evi_probe_event(g_proc_event.load(std::memory_order_relaxed)) > 0;
}

void proc_emit(shim_prof_record &rec)
{
	if (t_st.proc_dropped) return;
	if (push(rec)) t_st.proc_pushed = true;
}

void proc_close()
{
	if (t_st.proc_pushed && !t_st.proc_dropped) t_st.completed++;
	t_st.proc_open = false;
	t_st.proc_dropped = false;
	t_st.proc_pushed = false;
	t_st.nheld = 0;
	t_st.depth = 0;
	shim_prof_session_level = 0;
	maybe_commit();
}

inline shim_prof_record proc_rec(int verb, const char *name, int depth)
{
	shim_prof_record r;
	stamp(r);
	r.session = t_st.pid;
	r.name = name;
	r.file = nullptr;
	r.line = 0;
	r.status = 0;
	r.type = t_st.type;
	r.depth = (short)depth;
	r.verb = (unsigned char)verb;
	r.event = SHIM_PROF_EV_PROC;
	return r;
}

// The first non-deferred enter: held records go out in order, each with
// its index in the held stack as depth (spec §4.3 quirk).
void flush_held()
{
	int n = t_st.nheld;
	t_st.nheld = 0;
	for (int i = 0; i < n; i++) {
		t_st.held[i].depth = (short)i;
		proc_emit(t_st.held[i]);
	}
}

void hold(const shim_prof_record &r)
{
	if (t_st.nheld < kHeld) t_st.held[t_st.nheld++] = r;
}

} // namespace

void reset_thread()
{
	t_st = thread_state();
	shim_prof_session_level = 0;
}

} // namespace shim::prof

using namespace shim::prof;

extern "C" {

void shim_prof_start_slow(int level, const char *name, int deferred)
{
	if (t_st.proc_open) // a session that was never ended
		proc_close();
	if (level <= 0) return;
	shim::proc_entry *self = shim::roster_self();
	int tl = self ? self->profiling_level.load(std::memory_order_relaxed) : 0;
	if (g_force_proc.load(std::memory_order_relaxed) >= 0 && !self)
		tl = SHIM_PROF_FULL; // unit tests run on unmanaged threads
	if (level > tl || !proc_subscribed()) return;
	t_st.proc_open = true;
	t_st.proc_dropped = false;
	t_st.proc_pushed = false;
	t_st.nheld = 0;
	t_st.depth = 0;
	t_st.type = self ? self->ptype : 0;
	t_st.pid = shim_my_pid();
	t_st.start_name = name ? name : (self ? self->type.c_str() : nullptr);
	shim_prof_session_level = tl;
	shim_prof_record r = proc_rec(SHIM_PROF_VERB_START, t_st.start_name, 0);
	if (deferred)
		hold(r);
	else
		proc_emit(r);
}

void shim_prof_enter_slow(int, const char *name, int deferred,
                          const char *file, int line)
{
	if (!t_st.proc_open) return;
	t_st.depth++;
	if (t_st.proc_dropped) return;
	shim_prof_record r = proc_rec(SHIM_PROF_VERB_ENTER, name, t_st.depth);
	r.file = file;
	r.line = line;
	if (deferred) {
		hold(r);
		return;
	}
	flush_held();
	proc_emit(r);
}

void shim_prof_exit_slow(int, const char *name, int status, const char *file,
                         int line)
{
	if (!t_st.proc_open) return;
	if (t_st.depth > 0) t_st.depth--;
	if (t_st.nheld > 0) { // its enter never went out: neither does it
		t_st.nheld--;
		return;
	}
	if (t_st.proc_dropped) return;
	shim_prof_record r = proc_rec(SHIM_PROF_VERB_EXIT, name, t_st.depth);
	r.file = file;
	r.line = line;
	r.status = status;
	proc_emit(r);
}

void shim_prof_end_slow(int, int status)
{
	if (!t_st.proc_open) return;
	if (t_st.nheld > 0) {
		t_st.nheld--;
	} else if (!t_st.proc_dropped) {
		shim_prof_record r =
		    proc_rec(SHIM_PROF_VERB_END, t_st.start_name, t_st.depth);
		r.status = status;
		proc_emit(r);
	}
	proc_close();
}

} // extern "C"

namespace shim {

bool prof_script_enabled()
{
	int f = g_force_script.load(std::memory_order_relaxed);
	if (f >= 0) return f > 0;
	return evi_probe_event(g_script_event.load(std::memory_order_relaxed)) > 0;
}

void prof_script_record(int verb, const char *name, int type, int depth,
                        const char *file, int line, int status,
                        unsigned int session)
{
	if (verb == SHIM_PROF_VERB_START && t_st.script_open++ == 0) {
		t_st.script_dropped = false;
		t_st.script_pushed = false;
	}
	if (t_st.script_open <= 0) return; // a record outside any run
	if (!t_st.script_dropped) {
		shim_prof_record r;
		stamp(r);
		r.session = (int)session;
		r.name = name;
		r.file = file;
		r.line = line;
		r.status = status;
		r.type = type;
		r.depth = (short)depth;
		r.verb = (unsigned char)verb;
		r.event = SHIM_PROF_EV_SCRIPT;
		if (push(r)) t_st.script_pushed = true;
	}
	if (verb == SHIM_PROF_VERB_END && --t_st.script_open == 0) {
		if (t_st.script_pushed && !t_st.script_dropped) t_st.completed++;
		t_st.script_dropped = false;
		t_st.script_pushed = false;
		maybe_commit();
	}
}

void prof_test_force_subscribed(int proc, int script)
{
	g_force_proc.store(proc);
	g_force_script.store(script);
}

void prof_test_ring_size(unsigned int records) { g_test_ring_size.store(records); }

void prof_test_reset_thread() { reset_thread(); }

} // namespace shim

// ---- interned names ----
namespace {
std::mutex g_intern_mu;
auto *g_intern = new std::unordered_set<std::string>();
constexpr size_t kMaxInterned = 4096;
} // namespace

extern "C" const char *shim_prof_intern(const char *s, int len)
{
	if (!s || len < 0) return nullptr;
	std::string key(s, (size_t)len);
	std::lock_guard<std::mutex> lk(g_intern_mu);
	auto it = g_intern->find(key);
	if (it != g_intern->end()) return it->c_str();
	if (g_intern->size() >= kMaxInterned) return nullptr;
	// node-based set: the string never moves
	return g_intern->insert(std::move(key)).first->c_str();
}

extern "C" const char *shim_prof_mi_name(const char *prefix, const char *req,
                                         int len)
{
	// A light scan for "method":"<name>" (member names are
	// case-insensitive in JSON-RPC here, decisions.md §12). A batch or a
	// request without a method gives NULL.
	if (!prefix || !req || len <= 0) return nullptr;
	const char *p = req, *end = req + len;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
	if (p >= end || *p != '{') return nullptr;
	static const char key[] = "\"method\"";
	for (; p + sizeof key - 1 < end; p++) {
		if (strncasecmp(p, key, sizeof key - 1) != 0) continue;
		const char *q = p + sizeof key - 1;
		while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')) q++;
		if (q >= end || *q != ':') continue;
		q++;
		while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')) q++;
		if (q >= end || *q != '"') return nullptr;
		const char *m = ++q;
		while (q < end && *q != '"' && *q != '\\') q++;
		if (q >= end || *q != '"' || q - m > 128) return nullptr;
		std::string name = std::string(prefix) + " " + std::string(m, (size_t)(q - m));
		return shim_prof_intern(name.data(), (int)name.size());
	}
	return nullptr;
}
