// Shared by the EVI unit tests: a test transport "t" (and an expiring-less
// "n") that records every delivery as its JSON payload, and a clock.
#pragma once

#include <string.h>

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "evi/evi_core.h"
#include "evi/evi_internal.h"
#include "opensips/evi.h"
#include "opensips/evi_transport.h"

namespace evitest {

struct tsock {
	evi_reply_sock sock;
	std::string addr;
};

struct delivery {
	std::string socket;
	std::string payload;
};

inline std::mutex g_mu;
inline std::vector<delivery> g_got;
inline std::atomic<int> g_frees{0};
inline std::atomic<bool> g_fail{false};
inline time_t g_now = 1000;

inline time_t fake_now() { return g_now; }

inline evi_reply_sock *t_parse_common(str s, bool expires)
{
	if (!s.s || s.len <= 0 || memchr(s.s, '!', (size_t)s.len)) return nullptr;
	auto *t = new tsock;
	t->sock = evi_reply_sock{expires ? (unsigned)EVI_EXPIRE : 0u, 0, 0, nullptr};
	t->addr.assign(s.s, (size_t)s.len);
	return &t->sock;
}
inline evi_reply_sock *t_parse(str s) { return t_parse_common(s, true); }
inline evi_reply_sock *n_parse(str s) { return t_parse_common(s, false); }
inline int t_match(evi_reply_sock *a, evi_reply_sock *b)
{
	return ((tsock *)a)->addr == ((tsock *)b)->addr;
}
inline void t_free(evi_reply_sock *s)
{
	g_frees++;
	delete (tsock *)s;
}
inline str t_print(evi_reply_sock *s)
{
	auto *t = (tsock *)s;
	return str{t->addr.data(), (int)t->addr.size()};
}
inline int t_raise_one(evi_reply_sock *s, const str *ev, evi_params_t *p)
{
	char buf[8192];
	int n = evi_build_payload(p, ev, 0, nullptr, ev, buf, sizeof(buf));
	if (n < 0) return -1;
	std::lock_guard<std::mutex> lk(g_mu);
	g_got.push_back({((tsock *)s)->addr, std::string(buf, (size_t)n)});
	return g_fail ? -1 : 0;
}
inline int t_raise(evi_delivery *d) { return evi_deliver_each(d, t_raise_one); }

inline void register_transports()
{
	static evi_export_t t = {sizeof(evi_export_t), {(char *)"t", 1}, t_raise, t_parse,
	                         t_match, t_free, t_print, 0, nullptr};
	static evi_export_t n = {sizeof(evi_export_t), {(char *)"n", 1}, t_raise, n_parse,
	                         t_match, t_free, t_print, 0, nullptr};
	register_event_mod(&t);
	register_event_mod(&n);
}

// Another expiring test transport under `proto` ("udp", "tcp", ...).
inline void register_proto(const char *proto)
{
	static std::deque<evi_export_t> keep; // reachable: not a leak
	keep.push_back(evi_export_t{sizeof(evi_export_t), {(char *)proto, (int)strlen(proto)},
	                            t_raise, t_parse, t_match, t_free, t_print, 0, nullptr});
	register_event_mod(&keep.back());
}

// A clean EVI with the test transports and the fake clock.
inline void reset()
{
	shim::evi_reset();
	register_transports();
	shim::evi_set_time_source(fake_now);
	g_now = 1000;
	std::lock_guard<std::mutex> lk(g_mu);
	g_got.clear();
	g_frees = 0;
	g_fail = false;
}

inline std::vector<delivery> got()
{
	std::lock_guard<std::mutex> lk(g_mu);
	return g_got;
}
inline void clear_got()
{
	std::lock_guard<std::mutex> lk(g_mu);
	g_got.clear();
}

inline event_id_t publish(const char *name)
{
	return evi_publish_event(str{(char *)name, (int)strlen(name)});
}

inline int subscribe(const char *ev, const char *sock, unsigned exp, bool mi)
{
	return shim::evi_subscribe(str{(char *)ev, (int)strlen(ev)},
	                           str{(char *)sock, (int)strlen(sock)}, exp, mi);
}

inline size_t drain() { return shim::evi_dispatch_pending((size_t)-1); }

} // namespace evitest
