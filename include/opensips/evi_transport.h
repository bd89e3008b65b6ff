/* Event Interface, transport side (event_datagram, event_stream,
 * event_flatstore, event_virtual and the built-in `route`), ABI version 2.
 *
 * A transport registers an evi_export_t (usually in its init_f). The host
 * calls `parse` when a subscription names the transport's proto
 * ("udp:127.0.0.1:9000" -> parse("127.0.0.1:9000")), `match` to find an
 * existing subscriber, `print` for listings and `free` when a subscriber is
 * removed.
 *
 * Delivery: the host's event sender drains each subscriber's queue in runs
 * and hands one run to `raise` in one call: an evi_delivery names the
 * subscriber's socket, the events (in queue order, read-only, valid until
 * `raise` returns) and an outcome slot per event, which `raise` fills
 * before it returns:
 *   EVI_OUTCOME_DELIVERED  sent, written, accepted by the peer;
 *   EVI_OUTCOME_FAILED     could not be sent;
 *   EVI_OUTCOME_DROPPED    given up without trying (overflow, too old);
 *   EVI_OUTCOME_LATER      handed to a thread of the transport's own: it
 *                          took a ticket with d->ticket(d, i) and settles it
 *                          exactly once, from any thread, with
 *                          t->settle(t, outcome) (which frees the ticket).
 * Everything a transport needs is in the delivery context: it never asks
 * the host where it is. `raise` runs on the sender thread (or on another
 * transport's, for event_virtual's members) and must not block: slow I/O
 * belongs on a thread of the transport's. Return 0, or -1 when nothing of
 * the run could be handled (every outcome not set counts as failed). */
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

/* The outcome of one event of a delivery. */
enum evi_outcome {
	EVI_OUTCOME_DELIVERED = 0,
	EVI_OUTCOME_FAILED = 1,
	EVI_OUTCOME_DROPPED = 2,
	EVI_OUTCOME_LATER = 3,
};

typedef struct evi_event_ {
	const str *name;               /* the event's name */
	evi_params_t *params;          /* read-only: shared by the subscribers */
	str callid;                    /* Call-ID of the SIP request whose
	                                * processing raised the event ({NULL,0}
	                                * when none): event_kafka's key=callid */
} evi_event;

/* A late outcome, for an event left EVI_OUTCOME_LATER. */
typedef struct evi_ticket_ {
	unsigned int size;             /* sizeof(evi_ticket) */
	/* Exactly once, from any thread; frees the ticket. */
	void (*settle)(struct evi_ticket_ *t, int outcome);
} evi_ticket;

typedef struct evi_delivery_ {
	unsigned int size;             /* sizeof(evi_delivery) */
	evi_reply_sock *sock;          /* the subscriber */
	int count;                     /* events in this run */
	const evi_event *events;       /* [count], queue order */
	int *outcomes;                 /* [count], set by raise */
	/* A ticket for event `index`, whose outcome the transport settles
	 * later; NULL when the host cannot give one (the transport then sets
	 * an outcome now). */
	evi_ticket *(*ticket)(const struct evi_delivery_ *d, int index);
	void *host;                    /* the host's, for ticket() */
} evi_delivery;

/* One member of a composite subscriber (event_virtual), for
 * evi:subscriber_stats and the statistics. */
typedef struct evi_member_stat_ {
	unsigned int size;             /* sizeof(evi_member_stat) */
	char socket[256];              /* "udp:127.0.0.1:9000" */
	unsigned long long delivered, failed, dropped;
	int skipped;                   /* 1 while FAILOVER skips it */
} evi_member_stat;

typedef struct evi_export_ {
	unsigned int size;             /* sizeof(evi_export_t): checked */
	str proto;                     /* "udp", "unix", "tcp", "flatstore" */
	int (*raise)(evi_delivery *d);
	evi_reply_sock *(*parse)(str socket);          /* NULL: bad socket */
	int (*match)(evi_reply_sock *a, evi_reply_sock *b); /* 1 same */
	void (*free)(evi_reply_sock *sock);
	str (*print)(evi_reply_sock *sock);           /* owned by the sock */
	unsigned int flags;
	/* Optional (NULL): a composite socket's members and their counters;
	 * writes at most `max`, returns how many it has. Any thread. */
	int (*members)(evi_reply_sock *sock, evi_member_stat *out, int max);
} evi_export_t;

/* Sets every outcome of `d` (a whole run answered the same way). */
static inline void evi_delivery_set_all(evi_delivery *d, int outcome)
{
	for (int i = 0; i < d->count; i++)
		d->outcomes[i] = outcome;
}

/* For a transport that handles events one at a time: one(sock, name,
 * params) per event, >= 0 delivered, < 0 failed. Returns 0. */
static inline int evi_deliver_each(evi_delivery *d,
                                   int (*one)(evi_reply_sock *sock, const str *name,
                                              evi_params_t *params))
{
	for (int i = 0; i < d->count; i++)
		d->outcomes[i] = one(d->sock, d->events[i].name, d->events[i].params) < 0
		                     ? EVI_OUTCOME_FAILED
		                     : EVI_OUTCOME_DELIVERED;
	return 0;
}

/* The transport registered for `proto` ("udp"), or NULL: for composite
 * transports (event_virtual), whose members are other transports' sockets.
 * The pointer stays valid until the host exits. */
const evi_export_t *evi_find_transport(str proto);

/* 0 / -1 (duplicate proto, or an evi_export_t of another size: a module
 * built against another ABI). Call from load_f or init_f. */
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
