// Internals shared by the files of core_shim/evi/ (not for modules).
#pragma once

#include "opensips/statistics.h"

#include <atomic>
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
};
job *job_create(event_id_t id, const evi_params_t *src, int level);
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
