// Structures shared by the profiling files (core_shim/profiling/*.cc).
#pragma once

#include <atomic>
#include <mutex>

#include "opensips/evi.h"
#include "opensips/profiling.h"

namespace shim::prof {

// One thread's single-producer, single-consumer ring of records.
// [tail, commit) is readable by the consumer; [commit, head) is written
// but belongs to sessions still open (or not yet published).
struct prof_ring {
	alignas(64) std::atomic<unsigned int> commit{0}; // producer -> consumer
	alignas(64) std::atomic<unsigned int> tail{0};   // consumer -> producer
	alignas(64) unsigned int head = 0;               // producer only
	unsigned int cached_tail = 0;                    // producer only
	unsigned int mask = 0;
	shim_prof_record *slots = nullptr;
	int roster_id = -1;
	int pid = 0;
	std::atomic<unsigned long long> records{0};          // written (producer)
	std::atomic<unsigned long long> sessions_dropped{0}; // producer
	std::atomic<unsigned long long> delivered{0};        // consumer
};

constexpr int kMaxRings = 2048;
// Append-only registry of rings (never freed while the host runs).
extern std::mutex g_rings_mu;
extern std::atomic<prof_ring *> g_rings[kMaxRings];
extern std::atomic<int> g_nrings;
extern std::atomic<event_id_t> g_proc_event, g_script_event;

void reset_thread();

} // namespace shim::prof
