// The Status/Report registry (spec §1): groups, identifiers, report rings.
//
// Ownership and locking (see docs/status_report.md, "Internals"):
//   * The group list only grows, at startup. It is guarded by a
//     std::shared_mutex; a group pointer, once returned, stays valid for the
//     life of the process (groups are never freed).
//   * Each group guards its identifier list with its own shared_mutex.
//     Identifiers are held by std::shared_ptr so an identifier removed at run
//     time stays alive while a reader still uses it.
//   * Each identifier has a short std::mutex for its status, details and
//     report ring. Everything that allocates (details text, report text,
//     MI items) is done outside that mutex.
//   * status and details are atomics so the shutdown transition can be
//     written without any lock (spec §1.3 sr_set_core_status_terminating).
//
// The C API (struct sr_api) is a thin exception-free wrapper over this.
#pragma once

#include "opensips/statistics.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include <time.h>

#include "opensips/status_report.h"

// Internal to the module: only `exports` leaves the .so.
#pragma GCC visibility push(hidden)

namespace sr {

// An immutable, heap-allocated text (the details of an identifier). The
// shutdown text is static and never freed.
struct text {
	std::string s;
	bool is_static = false;
	text *next = nullptr; // in the graveyard of texts replaced at shutdown
};

struct report {
	time_t ts = 0;
	std::string log;
};

struct identifier {
	std::string name;
	std::mutex lock;                 // guards ring, first, last; and writers
	std::atomic<int> status{1};      // written under lock (or lock-free at
	std::atomic<text *> details{nullptr}; // shutdown), read under lock
	short max_reports = 0;
	// sr:status/<group>/<id> and sr:ready/<group>/<id> (gauges), set
	// wherever status is stored
	stat_var *st_status = nullptr, *st_ready = nullptr;
	std::vector<report> ring;        // max_reports slots once used
	int first = -1, last = -1;       // ring indexes, -1 = empty

	~identifier();
};

struct group {
	std::string name;
	int is_public = 0;
	mutable std::shared_mutex ids_lock;
	// newest first
	std::vector<std::shared_ptr<identifier>> ids;
};

// A copy of an identifier's state, taken under its lock, so MI replies are
// built without holding any identifier lock.
struct id_snapshot {
	std::string name;
	int status = 0;
	bool has_details = false;
	std::string details;
	std::vector<report> reports; // oldest to newest
};

// ---- groups ----
group *register_group(const char *name, int len, int is_public);
group *find_group(const char *name, int len);
// All groups, newest first (pointers stay valid forever).
std::vector<group *> groups();

// ---- identifiers ----
int register_identifier(group *g, const char *id, int id_len, int status,
                        const char *txt, int txt_len, int max_reports);
int unregister_identifier(group *g, const char *id, int id_len);
std::shared_ptr<identifier> find_identifier(group *g, const char *id,
                                            int id_len);
// Identifier names of a group, newest first.
std::vector<std::string> identifier_names(group *g);
// Snapshots of every identifier of a group, newest first. with_reports
// also copies the rings.
std::vector<id_snapshot> snapshot_all(group *g, bool with_reports);
bool snapshot(group *g, const char *id, int id_len, bool with_reports,
              id_snapshot &out);

// ---- writes and reads ----
int set_status(group *g, const char *id, int id_len, int status,
               const char *txt, int txt_len, int is_public);
int add_report(group *g, const char *id, int id_len, const char *rep,
               int rep_len, int is_public);
// The status (id NULL = "main"; "all" aggregates: 1 or -1), or
// SR_STATUS_NOT_FOUND.
int get_status(group *g, const char *id, int id_len);
bool is_all(const char *id, int id_len);

// ---- change callbacks ----
int register_status_cb(sr_status_cb cb, void *param);

// ---- the core group (spec §1.4) ----
// Registers `core`/`main` (private, -100, 10 reports); idempotent.
int core_init();
void core_set_state(int state);
group *core_group();

// Drops every group, identifier and callback: unit tests only (not
// thread-safe, invalidates group pointers).
void reset_for_tests();
// destroy_f: frees the whole registry (the host's threads have stopped, so
// nothing can read it any more). Nothing may use the registry afterwards.
void release_at_exit();

// The C API table published under SR_API_NAME (exception-free wrappers).
extern const struct sr_api api_table;

} // namespace sr

#pragma GCC visibility pop
