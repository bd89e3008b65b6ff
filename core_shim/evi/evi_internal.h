// Internals shared by the files of core_shim/evi/ (not for modules).
#pragma once

#include "opensips/statistics.h"

#include <ev.h>
#include <time.h>

#include <atomic>
#include <map>
#include <unordered_map>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "evi/evi_core.h"

namespace shim::evi {

// One raised event, deep-copied once and shared by every subscriber queue
// it was pushed to (refcounted, immutable). One malloc: the job, then
// nparams evi_param_t, then the bytes of names and strings.
struct job {
	std::atomic<int> refs;
	event_id_t event;
	int level;             // nesting level of the raise (MAX_REC_LEV)
	evi_params_t params;   // points into the trailing storage
	str callid;            // the raising SIP request's, in the storage; or {0,0}
};
job *job_create(event_id_t id, const evi_params_t *src, int level,
                const str *callid = nullptr);
void job_ref(job *j);
void job_unref(job *j);

// Bounded lock-free MPMC queue of jobs (Vyukov); capacity a power of two.
class job_queue {
public:
	explicit job_queue(size_t capacity);
	~job_queue();
	job_queue(const job_queue &) = delete;
	job_queue &operator=(const job_queue &) = delete;
	bool push(job *j);
	bool pop(job *&j);
	size_t size() const;

private:
	struct cell {
		std::atomic<size_t> seq;
		job *data;
	};
	cell *buf_;
	size_t mask_;
	alignas(64) std::atomic<size_t> enq_{0};
	alignas(64) std::atomic<size_t> deq_{0};
};

struct transport {
	evi_export_t exp;
	std::string proto;
};

struct subscriber {
	event_id_t event = EVI_ERROR;
	const transport *tp = nullptr;
	evi_reply_sock *sock = nullptr;
	// expiry, guarded by the event's mutex (mirrored into sock)
	bool expires = false;
	unsigned int expire = 0;
	time_t since = 0;
	std::atomic<bool> removed{false};
	job_queue queue{EVI_QUEUE_SIZE};
	std::atomic<unsigned long long> delivered{0}, dropped{0}, failed{0};
	// handed to a transport that settles the outcome later (a ticket)
	std::atomic<unsigned long long> inflight{0};
	// taken from the queue by the sender, not counted yet (a run)
	std::atomic<unsigned long long> in_run{0};
	bool folded = false; // counters moved to the retired totals (g_all_mu)
};

struct event_entry {
	std::string name_buf;
	str name{nullptr, 0};
	stat_var *raised = nullptr; // evi:raised/<event>
	std::atomic<int> nsubs{0};  // what evi_probe_event reads
	std::mutex mu;              // guards subs and the subscribers' expiry
	std::vector<std::shared_ptr<subscriber>> subs; // newest first
};

event_entry *event_get(event_id_t id);
int event_count();
const transport *transport_find(const str &proto);
int transport_count();

// Text of a subscriber's socket: "<proto>:<printed>".
std::string socket_text(const subscriber &s);
// Purges the expired subscribers of `e` (e->mu held) at time `now`.
void purge_locked(event_entry *e, time_t now);
// Is `s` expired at `now` (e->mu held)?
bool expired_locked(const subscriber &s, time_t now);


// ---- the EVI's state: one object, every lock and what it guards ----
//
// Lock order (a lock is only taken while holding those before it):
//   drain_mu  ->  event_entry::mu | pub_mu | tp_mu  ->  all_mu
// - a raise takes only its event's mu (purging expired subscribers and
//   pushing the job under it: raisers of other events never wait); the
//   queues themselves are lock-free;
// - the sender holds drain_mu for a whole drain and all_mu only to copy
//   `all` into `snapshot` (when all_gen moved) and to collect removed
//   subscribers; transports are called holding drain_mu only;
// - subscribing takes the event's mu, then all_mu to add the subscriber to
//   the sender's view before any job can reach it;
// - a late outcome (ticket) takes all_mu alone, on the transport's thread;
// - evi_reset (tests) takes drain_mu, then all_mu, pub_mu, tp_mu in turn.
constexpr int MAX_EVENTS = 4096;

struct totals {
	unsigned long long delivered = 0, dropped = 0, failed = 0;
};

struct evi_state {
	// event table: append-only, readers index it without a lock
	std::atomic<event_entry *> events[MAX_EVENTS] = {};
	std::atomic<int> nevents{0};
	std::mutex pub_mu;                              // publishing; names
	std::unordered_map<std::string, int> names;     // name -> id

	// transports (the built-in `route` first)
	std::mutex tp_mu;                               // registering; tps
	std::vector<std::unique_ptr<transport>> tps;
	std::atomic<int> ntps{0};
	std::once_flag builtin_once;

	// every subscriber with a queue: the sender's view
	std::mutex all_mu;                              // all; retired; folding
	std::vector<std::shared_ptr<subscriber>> all;
	std::atomic<unsigned long> all_gen{1};          // bumped when `all` changes
	// counters of removed subscribers, per (event, transport): totals stay
	// monotonic when subscribers go
	std::map<std::pair<std::string, std::string>, totals> retired;

	// the sender (EVI sender thread; tests drain on their own thread)
	std::mutex drain_mu;                            // one drainer at a time
	std::vector<std::shared_ptr<subscriber>> snapshot; // drain_mu
	unsigned long snapshot_gen = 0;                 // drain_mu
	std::atomic<struct ev_loop *> sender_loop{nullptr};
	ev_async sender_async;

	// the clock of expiry (tests replace it)
	std::atomic<time_t (*)(void)> time_source{nullptr};
};
// Allocated on first use and kept until exit (threads may still touch it
// while the process ends).
evi_state &st();

// evi_events.cc
void ensure_builtin();
// evi_params.cc
void free_list(evi_params_p list);
// evi_sender.cc
void wake_sender();
void count_outcome_locked(subscriber &s, int outcome, unsigned long long n);
void fold_retired_locked(subscriber &s);
void collect_removed();
// evi_subscribe.cc
void purge_timer(unsigned int, void *);

// Level of the job being delivered on this thread (route transport).
extern thread_local int t_delivery_level;
// Nesting level of the raise running on this thread.
extern thread_local int t_raise_level;

// route transport (evi_route.cc)
const evi_export_t *route_transport_export();
bool route_worker_needed();
int route_worker_start();
void route_reset();

// MI commands (evi_mi.cc)
int mi_register();

} // namespace shim::evi
