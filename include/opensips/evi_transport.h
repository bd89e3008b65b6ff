/* Event Interface, transport side (event_datagram, event_stream,
 * event_flatstore, and the built-in `route`).
 *
 * A transport registers an evi_export_t (usually in its init_f). The host
 * calls `parse` when a subscription names the transport's proto
 * ("udp:127.0.0.1:9000" -> parse("127.0.0.1:9000")), `match` to find an
 * existing subscriber, `print` for listings and `free` when a subscriber is
 * removed.
 *
 * `raise` is called on the host's event sender thread, never on the thread
 * that raised the event, with the host's copy of the parameters that lives
 * until `raise` returns. The copy is shared by the subscribers of that raise:
 * treat it as read-only (copy what you need to change). It must not block for long: a transport with slow
 * I/O (TCP) hands the payload to a thread of its own. Return 0 when the
 * event was delivered or handed on, < 0 when it failed (counted).
 *
 * Batching (optional, `flush`): the sender drains a subscriber's queue in
 * runs (up to 64 events per subscriber per round) and, after each run in
 * which it called `raise` for a socket, calls `flush(sock)` on the same
 * thread. While `evi_will_flush(sock)` returns non-zero, `raise` may keep
 * the encoded event and return 0; `flush` then sends what was kept and
 * returns how many of those events failed (the host moves them from
 * `delivered` to `failed`), 0 when all went out. Elsewhere (a test or any
 * other caller of `raise`) `evi_will_flush` is 0 and `raise` must deliver
 * before it returns. Transports without batching leave `flush` NULL. */
#ifndef OPENSIPS_EVI_TRANSPORT_H
#define OPENSIPS_EVI_TRANSPORT_H

#include <time.h>

#include "evi.h"
#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sip_msg;

#define EVI_EXPIRE   (1 << 0)  /* set by parse when the socket expires */
#define EVI_PENDING  (1 << 1)  /* in use by the host; do not free */

typedef struct evi_reply_sock_ {
	unsigned int flags;
	unsigned int expire;          /* seconds, with EVI_EXPIRE */
	time_t subscription_time;     /* set by the host */
	void *priv;                   /* transport-private data */
} evi_reply_sock;

typedef struct evi_export_ {
	str proto;                    /* "udp", "unix", "tcp", "flatstore" */
	int (*raise)(struct sip_msg *msg, str *ev_name, evi_reply_sock *sock,
	             evi_params_t *params);
	evi_reply_sock *(*parse)(str socket);          /* NULL: bad socket */
	int (*match)(evi_reply_sock *a, evi_reply_sock *b); /* 1 same */
	void (*free)(evi_reply_sock *sock);
	str (*print)(evi_reply_sock *sock);           /* owned by the sock */
	unsigned int flags;
	/* Added last, so initialisers without it stay valid (NULL: none; in
	 * C++ the default initialiser also keeps -Wmissing-field-initializers
	 * quiet). Sends what `raise` kept for `sock`; returns how many of
	 * those events failed (>= 0). Called on the sender thread, see above. */
	int (*flush)(evi_reply_sock *sock)
#ifdef __cplusplus
	    = nullptr
#endif
	    ;
} evi_export_t;

/* Late outcomes, for a transport that finishes delivery on a thread of its
 * own (event_stream): during `raise`, take a reference on the subscriber's
 * counters; the host then counts nothing for this raise. When the outcome
 * is known, report it exactly once (ok = 1 delivered, 0 failed), then
 * release the reference. Counters only grow. The reference stays valid
 * after the subscriber is removed. NULL outside `raise`. */
void *evi_stats_ref(evi_reply_sock *sock);
void evi_stats_report(void *ref, int ok);
void evi_stats_unref(void *ref);

/* Non-zero when the caller of `raise` (the host's sender, during a run for
 * this socket) will call the transport's `flush(sock)` before that run
 * ends, so `raise` may defer the send. 0 anywhere else. */
int evi_will_flush(evi_reply_sock *sock);

/* 0 / -1 (duplicate proto). Call from load_f or init_f. */
int register_event_mod(const evi_export_t *ev);

/* The JSON-RPC notification of spec §2.6 written into buf (compact, no
 * trailing newline): {["id":N,]"jsonrpc":"2.0","method":M[,"params":P]}.
 * `id` 0 = none. `extra_param` (event_stream's event_param) is inserted
 * first in params, valued with `ev_name`, only when there are params.
 * Returns the length, or -1 when it does not fit in `size`. */
int evi_build_payload(const evi_params_t *params, const str *method, int id,
                      const str *extra_param, const str *ev_name, char *buf,
                      int size);

#ifdef __cplusplus
}
#endif
#endif
