// event_flatstore internals: the `flatstore:/path/file` EVI transport
// (spec §2.6).
//
// Ownership and locking:
//   * g_files (path -> flat_file) is the registry of subscribed files,
//     guarded by its own mutex; a flat_file lives while a subscriber socket
//     (or a raise in progress) holds its shared_ptr. Subscriptions of the
//     same path share one flat_file and one descriptor.
//   * Everything inside a flat_file (descriptor, current name, counters) is
//     guarded by flat_file::lock: raise (event sender threads), the period
//     rotation (timer thread) and the MI rotate command (MI threads) all
//     take it. E_FLATSTORE_ROTATION is raised after the lock is released.
#pragma once

#include <sys/uio.h>
#include <time.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "opensips/evi_transport.h"
#include "opensips/sr_module.h"

// Internal to the module: only `exports` leaves the .so.
#pragma GCC visibility push(hidden)

namespace evflat {

// ---- modparams ----
extern int max_open_sockets;
extern char *delimiter;
extern char *escape_delimiter;
extern char *file_permissions;
extern int suppress_event_name;
extern int rotate_period;
extern unsigned long long rotate_count;
extern unsigned long long rotate_size;
extern char *suffix;
int set_rotate_count(modparam_t type, void *val);
int set_rotate_size(modparam_t type, void *val);
// "10", "10k", "2M", "1g" -> bytes; -1 when malformed.
long long parse_size(const char *s);

struct flat_file {
	std::string path;              // as subscribed (the MI key)
	std::mutex lock;
	int fd = -1;                   // -1: not open (opened on the next event)
	std::string filename;          // path + expanded suffix, when open
	unsigned long long lines = 0;  // written since the last (re)open
	unsigned long long bytes = 0;  // file size as we know it
	time_t last_period = 0;        // second of the last period rotation
	// failure logging: one line per failure streak, then one per 30 s
	bool failing = false;
	time_t last_log = 0;
	unsigned long unlogged = 0;
	unsigned long written = 0, failed = 0;
	int refs = 0;                  // subscriber sockets (under registry lock)

	~flat_file();                  // closes fd (a raise may reopen late)
};

struct flat_sock {
	evi_reply_sock rs{};           // what the host holds (rs.priv == this)
	std::shared_ptr<flat_file> file;
};

evi_reply_sock *parse(str socket);
int match(evi_reply_sock *a, evi_reply_sock *b);
void free_sock(evi_reply_sock *sock);
str print(evi_reply_sock *sock);
int raise(evi_delivery *d); // ABI v2: a line per event

extern const evi_export_t flatstore_export;

// The line for one event (spec §2.6), as iovecs into `params`, `ev_name`
// and `scratch` (which holds converted values). Uses the modparams.
std::vector<struct iovec> format_line(const str *ev_name,
                                      const evi_params_t *params,
                                      std::string &scratch);
std::string line_text(const str *ev_name, const evi_params_t *params);

// Rotation. `reason`: "count", "size", "period" or "mi".
struct rotation {
	std::string reason, filename, old_filename;
	time_t when = 0;
};
// Reopens (mi) or renames-then-reopens (count/size/period) the file; the
// caller holds f.lock. Returns what E_FLATSTORE_ROTATION will carry.
rotation rotate_locked(flat_file &f, const char *reason);
void raise_rotation(const rotation &r);
// The MI command's work: 0, or -1 when `path` is not subscribed.
int rotate_path(const std::string &path);
// Timer: rotate every open file when now % rotate_period == 0.
void period_check(time_t now);
// The file name for `path` at `now` (suffix expanded: `$Ts` is the epoch,
// `$time(fmt)` strftime in local time, anything else literal).
std::string expand_name(const std::string &path, time_t now);

// Registry lookups (tests).
std::shared_ptr<flat_file> find_file(const std::string &path);
size_t open_files();

// E_FLATSTORE_ROTATION's id (published in mod_init).
extern event_id_t g_rotation_ev;

int init_config();        // validates the modparams; 0 / -1
void close_all();

} // namespace evflat

#pragma GCC visibility pop
