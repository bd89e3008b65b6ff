/* Socket specs: the one parser for every module that takes a socket
 * (`udp:host:port`, `[::1]:9000`, `unix:/path`, ...), and the resolution of
 * a parsed spec into a sockaddr. Names are looked up through the host's
 * measured resolver (the one behind shim_resolve_host): each lookup counts
 * in dns:dns_total_queries and is timed against exec_dns_threshold.
 * Numeric addresses are never looked up.
 *
 * Error texts are reasons only ("missing port", "unknown protocol 'sctp'"),
 * written NUL-terminated into the caller's buffer; the caller says what was
 * bad: LM_ERR("bad udp socket '%s': %s\n", text, err).
 *
 * Both functions are reentrant and may be called from any thread (the
 * resolution may block for as long as the lookup takes). */
#ifndef OPENSIPS_NET_H
#define OPENSIPS_NET_H

#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Protocols: the values of shim_sockspec.proto, and also bits of the
 * `flags` of shim_sockspec_parse (the prefixes it accepts). */
#define SHIM_PROTO_UDP  0x01
#define SHIM_PROTO_TCP  0x02
#define SHIM_PROTO_UNIX 0x04

/* shim_sockspec_parse flags, or-ed with SHIM_PROTO_* bits */
#define SHIM_SOCK_PREFIX  0x100 /* the text may start with `udp:`, `tcp:` or
                                 * `unix:` (any case) naming one of the
                                 * SHIM_PROTO_* bits given */
#define SHIM_SOCK_ANY     0x200 /* host `*` is accepted: every address */
#define SHIM_SOCK_TAIL    0x400 /* `host:port` may be followed by `/tail`
                                 * (event_stream's method), see tail_off */
#define SHIM_SOCK_PORT_1024 0x800 /* the port must be 1024..65535 */

#define SHIM_SOCK_HOST_MAX 256 /* with the NUL */
#define SHIM_SOCK_PATH_MAX 108 /* sizeof(sockaddr_un.sun_path), with the NUL */

/* A parsed spec. The caller sets `size` to sizeof(struct shim_sockspec)
 * before handing it to the host (a struct of another size is refused);
 * shim_sockspec_parse fills the rest. */
struct shim_sockspec {
	unsigned int size;
	int proto;                     /* SHIM_PROTO_UDP, _TCP or _UNIX */
	char host[SHIM_SOCK_HOST_MAX]; /* inet: as written, brackets removed;
	                                * "*" for every address; unix: "" */
	int port;                      /* inet: 1..65535, the caller's default
	                                * when the text has none; unix: 0 */
	int port_given;                /* 1: the port was in the text */
	int is_ipv6;                   /* host is an IPv6 literal */
	int is_numeric;                /* host is a literal or "*": resolving
	                                * looks nothing up */
	char path[SHIM_SOCK_PATH_MAX]; /* unix: the path; inet: "" */
	int tail_off;                  /* SHIM_SOCK_TAIL: offset in the text of
	                                * what follows '/', or -1 (no '/') */
	int tail_len;                  /* its length (0: nothing after '/') */
};

/* Parses `len` bytes of `text` (len < 0: up to its NUL).
 *
 * Protocol: with SHIM_SOCK_PREFIX, a leading `udp:` / `tcp:` / `unix:`
 * naming an accepted protocol sets it. Otherwise the protocol is
 * `default_proto`; 0 means a prefix is required ("missing protocol"). With
 * `default_proto` SHIM_PROTO_UNIX a text without an accepted prefix is a
 * path as a whole (mi_datagram's socket_name: `udp:h:p` or a path);
 * otherwise a prefix-like word that names no accepted protocol is an error
 * ("unknown protocol 'sctp'", "protocol 'tcp' is not accepted here").
 *
 * inet (udp, tcp): `host:port`, `[v6]:port`; with a default port (> 0)
 * also `host` and `[v6]`. The host is an IPv4 literal, a name (letters,
 * digits, `.-_`), an IPv6 literal in brackets, or `*` (SHIM_SOCK_ANY).
 * An unbracketed IPv6 literal is accepted only when the port is required
 * (`::1:9000`: the port follows the last ':'). The port is decimal digits,
 * 1..65535 (1024..65535 with SHIM_SOCK_PORT_1024).
 *
 * unix: the rest of the text is the path: not empty, no NUL byte, at most
 * SHIM_SOCK_PATH_MAX - 1 bytes. A path that does not exist is accepted.
 *
 * Returns 0, or -1 with the reason in `err` (`err_len` bytes, may be 0). */
int shim_sockspec_parse(const char *text, int len, int flags, int default_proto,
                        int default_port, struct shim_sockspec *out, char *err,
                        int err_len);

/* shim_sockspec_resolve flags */
#define SHIM_RESOLVE_IPV4 0x01 /* IPv4 only: an IPv6 literal is refused and
                                * names are looked up for IPv4 addresses */

/* Fills `addr` and `*addr_len` from a parsed spec: a sockaddr_in or
 * sockaddr_in6 with the port (a literal without any lookup, "*" as
 * 0.0.0.0, a name through the measured resolver: its first address), or a
 * sockaddr_un whose length covers the path and its NUL. Returns 0, or -1
 * with the reason in `err` ("cannot resolve 'x': <resolver's reason>"). */
int shim_sockspec_resolve(const struct shim_sockspec *spec, int flags,
                          struct sockaddr_storage *addr, socklen_t *addr_len,
                          char *err, int err_len);

/* Writes the spec back as text: `host:port` (`[v6]:port`) or the path,
 * after `udp:` / `tcp:` / `unix:` when `with_proto` is set; the host as it
 * was written. Returns the full length (the output is cut to fit
 * `buf_len` and NUL-terminated), or -1 for a bad spec. */
int shim_sockspec_print(const struct shim_sockspec *spec, int with_proto,
                        char *buf, int buf_len);

/* Busy polling (the core setting `busy_poll_usec`, docs/core-settings.md):
 * a receiver that has just answered what its socket held may keep asking
 * the socket for more, for up to that long, before it goes back to sleep
 * in its loop. On a machine where waking a sleeping thread costs tens of
 * microseconds, a client that sends its next request within that time is
 * served without the wake-up. 0 (the default) turns it off. */
int shim_busy_poll_usec(void);

/* try_once(arg) again and again, with sched_yield() between calls, until
 * it returns non-zero or `budget_ns` has passed (it is called at least
 * once, even with a budget of 0). Returns its last result; `*polled_ns`
 * gets the time spent (not busy time for the load statistics). */
int shim_busy_poll(int (*try_once)(void *arg), void *arg, long long budget_ns,
                   long long *polled_ns);

/* recvmmsg(fd, v, n, MSG_DONTWAIT) again and again while the socket is
 * empty, for up to `budget_ns`. Returns what the last recvmmsg returned
 * (-1 with errno EAGAIN when nothing came); `*polled_ns` gets the time
 * spent polling (not busy time for the load statistics). */
struct mmsghdr;
int shim_recvmmsg_poll(int fd, struct mmsghdr *v, unsigned int n, long long budget_ns,
                       long long *polled_ns);

/* The core setting `udp_gso` (ours, default off, docs/internals/net.md):
 * 1 when shim_send_datagrams() may hand runs of datagrams to the kernel as
 * segmented sends (0 too once the kernel refused one in this process). */
int shim_udp_gso(void);

/* Sends v[0..n) on the datagram socket fd (sendmmsg, `flags` as for it),
 * every message one datagram of the same bytes, each destination's
 * datagrams in the order given. With udp_gso on, a run of datagrams of one
 * size to one IPv4/IPv6 destination (the last of a run may be shorter, up
 * to 1400 bytes each, one iovec each, no control data) goes to the kernel
 * as one send with UDP_SEGMENT, and the kernel cuts it back into those
 * datagrams. Returns how many datagrams could not be sent (0: all went);
 * `*last_errno` (may be NULL) gets the errno of the last failure, and each
 * message's msg_len the bytes sent of it, 0 for one that was not sent. */
int shim_send_datagrams(int fd, struct mmsghdr *v, unsigned int n, int flags,
                        int *last_errno);

#ifdef __cplusplus
}
#endif
#endif
