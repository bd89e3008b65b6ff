// event_stream internals: the `tcp` EVI transport (spec §2.6).
//
// Threads and ownership:
//   * parse/match/print/free run wherever the host subscribes (MI, script);
//     a stream_sock is immutable after parse.
//   * raise runs on the host's event sender thread: it builds the JSON-RPC
//     payload and hands a job to the `event_stream Sender` thread through a
//     bounded queue (mutex + ev_async). A full queue fails the raise.
//   * The Sender thread owns every TCP connection, all socket I/O and the
//     reliable-mode bookkeeping; nothing else touches them.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>

#include <netinet/in.h>

#include "opensips/evi_transport.h"

struct ev_loop;

// Internal to the module: only `exports` leaves the .so.
#pragma GCC visibility push(hidden)

namespace evstream {

// ---- modparams ----
extern int reliable_mode;   // 0: notifications; 1: requests with ids
extern char *event_param;   // NULL: unset
extern int timeout_ms;      // reliable mode: reply deadline

// ---- limits ----
constexpr size_t queue_max_jobs = 8192;            // raise -> Sender
constexpr size_t queue_max_bytes = 16u << 20;
constexpr size_t conn_max_pending = 1u << 20;      // unsent bytes per peer
constexpr size_t conn_max_input = 1u << 20;        // unparsed reply bytes
constexpr size_t max_payload = 4u << 20;

struct stream_sock {
	evi_reply_sock rs{};          // what the host holds (rs.priv == this)
	std::string host;             // as written
	struct sockaddr_in addr{};    // resolved at parse (IPv4)
	std::string method;           // after '/', empty = the event name
	std::string printed;          // "host:port[/method]"
};

evi_reply_sock *parse(str socket);
int match(evi_reply_sock *a, evi_reply_sock *b);
void free_sock(evi_reply_sock *sock);
str print(evi_reply_sock *sock);
int raise(evi_delivery *d); // ABI v2: one run, outcomes LATER (tickets)

extern const evi_export_t tcp_export;

// Reliable-mode ids: seeded from the pid and rand(), then stepped; always
// positive.
void seed_ids();
int next_id();

// ---- the Sender ----

// The late outcome of one event (ABI v2: the ticket the host handed out
// for it): the Sender settles it when the outcome is known (written or
// acknowledged: ok; lost: fail). Move-only; one that is destroyed unsettled
// (host shutdown) settles as failed, so every event is counted once.
struct stat_ref {
	evi_ticket *t = nullptr;
	stat_ref() = default;
	explicit stat_ref(evi_ticket *ticket) : t(ticket) {}
	stat_ref(stat_ref &&o) noexcept : t(o.t) { o.t = nullptr; }
	stat_ref &operator=(stat_ref &&o) noexcept
	{
		if (this != &o) {
			fail();
			t = o.t;
			o.t = nullptr;
		}
		return *this;
	}
	stat_ref(const stat_ref &) = delete;
	stat_ref &operator=(const stat_ref &) = delete;
	~stat_ref() { fail(); }
	void settle(int outcome)
	{
		if (t)
			t->settle(t, outcome);
		t = nullptr;
	}
	void fail() { settle(EVI_OUTCOME_FAILED); }
	void ok() { settle(EVI_OUTCOME_DELIVERED); }
};

struct job {
	struct sockaddr_in dest{};
	std::string payload;
	int id = 0;                   // > 0 in reliable mode
	stat_ref ref;
};

// Queues a job for the Sender (any thread). 0, or -1 when the queue is full
// or the Sender has stopped.
int sender_enqueue(job &&j);
// Starts the Sender's watchers on `loop` (the Sender thread's own loop).
void sender_start(struct ev_loop *loop);
// Stops accepting jobs (host shutdown); raise fails from then on.
void sender_close_queue();
// Frees every connection and queued job. `loop_alive`: stop the watchers
// first (unit tests); the host destroys the loop before destroy_f runs.
void sender_shutdown(bool loop_alive);

// Counters, for logs, docs and tests. `delivered`: written to the peer
// (notifications) or acknowledged without `error` (reliable). `failed`:
// connect/write errors, peer closed with messages outstanding, error
// replies and reply timeouts. `dropped`: a peer's pending output was over
// conn_max_pending.
struct stats {
	unsigned long delivered, failed, dropped, timeouts, connects;
};
stats get_stats();
// Unsent bytes towards `dest` (Sender thread or tests only).
size_t pending_bytes(const struct sockaddr_in &dest);
// Replies awaited from `dest` (reliable mode; Sender thread or tests only).
size_t awaiting_replies(const struct sockaddr_in &dest);

// Where the next complete JSON object of `p` ends (p[0] == '{'), counting
// strings and escapes; 0 while incomplete.
size_t json_object_end(const char *p, size_t n);

} // namespace evstream

#pragma GCC visibility pop
