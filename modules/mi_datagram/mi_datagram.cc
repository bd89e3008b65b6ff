// mi_datagram: JSON-RPC over UDP or a unix datagram socket (spec §5.5).
//
// One socket, created in mod_init on the main thread so a bad socket_name
// fails startup; `children_count` threads named "MI Datagram" each watch it
// on their own libev loop. Receives never block (MSG_DONTWAIT: the threads
// share the descriptor); replies block at most `socket_timeout` ms
// (SO_SNDTIMEO).
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ev.h>
#include <grp.h>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <pwd.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

#include "opensips/host.h"
#include "opensips/mi.h"
#include "opensips/net.h"
#include "opensips/profiling.h"
#include "opensips/sr_module.h"

namespace {

// ---- modparams ----
char *socket_name = nullptr;
int children_count = 1;
int socket_timeout = 2000;
int socket_buf_size = 65457;
int unix_socket_mode = 0660;
int pretty_printing = 0;
char *trace_destination = nullptr;
char *trace_bwlist = nullptr;
long unix_uid = -1, unix_gid = -1;

// ---- runtime ----
int g_fd = -1;
long long g_poll_ns = 0;             // busy_poll_usec, in ns
std::atomic<bool> g_polling{false}; // a thread is polling the socket
std::string g_unix_path; // set when we bound a unix socket (unlinked at exit)

// Datagrams taken per recvmmsg, and replies sent per sendmmsg: one
// wake-up of the thread (and of a client waiting on several replies)
// serves a batch. Each request still gets its own reply, in order.
constexpr int kBatch = 16;
constexpr int kFlushTail = 4;  // the last replies of a batch go one by one
constexpr int kSmallBatch = 8; // and every reply of a batch this small

struct worker {
	ev_io io;
	size_t buf_size = 0;
	std::unique_ptr<char[]> bufs;     // kBatch receive buffers, untouched until used
	struct mmsghdr in[kBatch];
	struct iovec in_iov[kBatch];
	struct sockaddr_storage from[kBatch];
	struct mmsghdr out[kBatch];
	struct iovec out_iov[kBatch];
	char *owned[kBatch];              // replies to free once sent
};
std::mutex g_workers_lock;
std::vector<std::unique_ptr<worker>> g_workers; // freed at process exit

const char parse_error_text[] = "400 Parse_error";
const char internal_error_text[] = "500 Internal error";

int resolve_id(const char *v, bool user, long *out)
{
	if (!v || !*v)
		return -1;
	char *end;
	long n = strtol(v, &end, 10);
	if (*end == 0 && n >= 0) {
		*out = n;
		return 0;
	}
	if (user) {
		struct passwd pw, *res = nullptr;
		char buf[4096];
		if (getpwnam_r(v, &pw, buf, sizeof buf, &res) != 0 || !res)
			return -1;
		*out = (long)pw.pw_uid;
	} else {
		struct group gr, *res = nullptr;
		char buf[4096];
		if (getgrnam_r(v, &gr, buf, sizeof buf, &res) != 0 || !res)
			return -1;
		*out = (long)gr.gr_gid;
	}
	return 0;
}

int set_owner(modparam_t type, void *val, bool user, long *out)
{
	if (PARAM_TYPE_MASK(type) & INT_PARAM) {
		long v = (long)val;
		if (v < 0)
			return -1;
		*out = v;
		return 0;
	}
	if (resolve_id((const char *)val, user, out) < 0) {
		LM_ERR("unknown %s '%s'\n", user ? "user" : "group", (const char *)val);
		return -1;
	}
	return 0;
}

int set_unix_user(modparam_t type, void *val) { return set_owner(type, val, true, &unix_uid); }
int set_unix_group(modparam_t type, void *val) { return set_owner(type, val, false, &unix_gid); }

void datagram_proc(int rank);

// Not const: children_count sets `no`.
proc_export_t procs[] = {
	{"MI Datagram", nullptr, nullptr, datagram_proc, 1, PROC_FLAG_INITCHILD},
	{nullptr, nullptr, nullptr, nullptr, 0, 0},
};

int set_children_count(modparam_t, void *val)
{
	long v = (long)val;
	if (v < 1 || v > 64) {
		LM_ERR("children_count must be between 1 and 64\n");
		return -1;
	}
	children_count = (int)v;
	procs[0].no = (unsigned)v;
	return 0;
}

bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		auto *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		auto *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

// Binds the parsed socket_name: udp (the host resolves it: IPv4 or IPv6,
// "*" for every address) or a unix path (an existing file there is removed
// first). Returns the socket or -1.
int open_socket(const struct shim_sockspec &spec)
{
	const char *name = socket_name;
	struct sockaddr_storage addr;
	socklen_t addr_len = 0;
	char err[256];
	if (shim_sockspec_resolve(&spec, 0, &addr, &addr_len, err, sizeof err) < 0) {
		LM_ERR("bad socket_name '%s': %s\n", name, err);
		return -1;
	}
	const bool is_unix = spec.proto == SHIM_PROTO_UNIX;
	if (is_unix && unlink(spec.path) < 0 && errno != ENOENT) {
		LM_ERR("cannot remove existing %s: %s\n", spec.path, strerror(errno));
		return -1;
	}
	int fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		LM_ERR("socket(): %s\n", strerror(errno));
		return -1;
	}
	if (!is_unix) {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	}
	if (bind(fd, (struct sockaddr *)&addr, addr_len) < 0) {
		LM_ERR("cannot bind MI datagram socket %s: %s\n", name, strerror(errno));
		close(fd);
		return -1;
	}
	if (!is_unix) {
		if (!is_loopback((struct sockaddr *)&addr))
			LM_WARN("MI datagram socket %s is reachable beyond loopback and has no "
			        "authentication: anyone who can reach it controls the server\n",
			        name);
		return fd;
	}
	g_unix_path = spec.path;
	if (chmod(spec.path, (mode_t)unix_socket_mode) < 0)
		LM_WARN("chmod %s: %s\n", spec.path, strerror(errno));
	if ((unix_uid >= 0 || unix_gid >= 0) &&
	    chown(spec.path, (uid_t)unix_uid, (gid_t)unix_gid) < 0)
		LM_WARN("chown %s: %s\n", spec.path, strerror(errno));
	return fd;
}

int mod_init(void)
{
	if (!socket_name || !*socket_name) {
		LM_ERR("mandatory parameter 'socket_name' is not set (udp:<host>:<port> "
		       "or a unix socket path)\n");
		return -1;
	}
	if (socket_buf_size < 64 || socket_buf_size > 16 * 1024 * 1024) {
		LM_ERR("socket_buf_size %d out of range\n", socket_buf_size);
		return -1;
	}
	if (socket_timeout < 0) {
		LM_ERR("socket_timeout must not be negative\n");
		return -1;
	}
	procs[0].no = (unsigned)children_count;
	// "udp:<host>:<port>" (port 1024..65535), or else a unix path as a
	// whole, no prefix (as OpenSIPS); parsed by the host (opensips/net.h)
	struct shim_sockspec spec {};
	spec.size = sizeof spec;
	char err[256];
	if (shim_sockspec_parse(socket_name, -1,
	                        SHIM_SOCK_PREFIX | SHIM_PROTO_UDP | SHIM_SOCK_ANY |
	                            SHIM_SOCK_PORT_1024,
	                        SHIM_PROTO_UNIX, 0, &spec, err, sizeof err) < 0) {
		LM_ERR("bad socket_name '%s': %s\n", socket_name, err);
		return -1;
	}
	g_fd = open_socket(spec);
	if (g_fd < 0)
		return -1;
	struct timeval tv;
	tv.tv_sec = socket_timeout / 1000;
	tv.tv_usec = (socket_timeout % 1000) * 1000;
	setsockopt(g_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	g_poll_ns = (long long)shim_busy_poll_usec() * 1000;
	if (trace_destination || trace_bwlist)
		LM_DBG("trace_destination/trace_bwlist are accepted and ignored\n");
	return 0;
}

// The reply to one datagram: what to send (data, len) and what to free
// after (owned, from mi_run_jsonrpc), or nothing (a notification).
struct reply {
	const char *data = nullptr;
	size_t len = 0;
	char *owned = nullptr;
};

reply handle_datagram(char *buf, size_t n)
{
	char *out = nullptr;
	int out_len = 0;
	reply r;
	SHIM_PROF_START(SHIM_PROF_EXTRAPROCS, nullptr, 0);
	SHIM_PROF_ENTER(SHIM_PROF_EXTRAPROCS, "MI_DATAGRAM handling", 0);
	const char *pname = shim_prof_session_level >= SHIM_PROF_EXTRAPROCS
	                        ? shim_prof_mi_name("MI_DATAGRAM", buf, (int)n)
	                        : nullptr;
	if (pname) SHIM_PROF_ENTER(SHIM_PROF_EXTRAPROCS, pname, 0);
	int rc = mi_run_jsonrpc(buf, (int)n, pretty_printing, "datagram", &out, &out_len);
	if (pname) SHIM_PROF_EXIT(SHIM_PROF_EXTRAPROCS, pname, rc);
	switch (rc) {
	case MI_RUN_REPLY:
		if (out_len > socket_buf_size) {
			LM_ERR("MI reply of %d bytes is larger than socket_buf_size %d\n", out_len,
			       socket_buf_size);
			r.data = internal_error_text;
			r.len = sizeof internal_error_text - 1;
			mi_free_reply(out);
		} else {
			r.data = out;
			r.len = (size_t)out_len;
			r.owned = out;
		}
		break;
	case MI_RUN_NO_REPLY:
		mi_free_reply(out);
		break;
	case MI_RUN_PARSE_ERROR:
		r.data = parse_error_text;
		r.len = sizeof parse_error_text - 1;
		mi_free_reply(out);
		break;
	default:
		r.data = internal_error_text;
		r.len = sizeof internal_error_text - 1;
		mi_free_reply(out);
		break;
	}
	SHIM_PROF_EXIT(SHIM_PROF_EXTRAPROCS, "MI_DATAGRAM", 0);
	SHIM_PROF_END(SHIM_PROF_EXTRAPROCS, 0);
	return r;
}

// Sends out[0..n) (shim_send_datagrams: segmented when udp_gso is on); a
// reply the kernel refuses is logged, the rest still go.
void send_replies(worker *w, int n)
{
	int err = 0;
	int lost = shim_send_datagrams(g_fd, w->out, (unsigned)n, MSG_NOSIGNAL, &err);
	if (lost)
		LM_ERR("cannot send %d MI repl%s: %s\n", lost, lost == 1 ? "y" : "ies",
		       strerror(err));
}

void on_readable(struct ev_loop *, ev_io *io, int)
{
	worker *w = (worker *)io->data;
	// Bounded rounds per wake-up so one flood cannot starve the loop (a
	// round that finds the socket empty ends it, unless busy polling
	// brings more).
	for (int round = 0; round < 64; round++) {
		for (int i = 0; i < kBatch; i++) {
			w->in_iov[i].iov_base = w->bufs.get() + (size_t)i * w->buf_size;
			w->in_iov[i].iov_len = w->buf_size;
			memset(&w->in[i].msg_hdr, 0, sizeof w->in[i].msg_hdr);
			w->in[i].msg_hdr.msg_iov = &w->in_iov[i];
			w->in[i].msg_hdr.msg_iovlen = 1;
			w->in[i].msg_hdr.msg_name = &w->from[i];
			w->in[i].msg_hdr.msg_namelen = sizeof w->from[i];
		}
		int n = recvmmsg(g_fd, w->in, kBatch, MSG_DONTWAIT, nullptr);
		// after a batch, one thread at a time polls for the next request
		// before it sleeps (busy_poll_usec)
		if (n < 0 && round > 0 && g_poll_ns > 0 && !g_polling.exchange(true)) {
			n = shim_recvmmsg_poll(g_fd, w->in, kBatch, g_poll_ns, nullptr);
			int saved = errno;
			g_polling.store(false);
			errno = saved;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				LM_ERR("recvmmsg: %s\n", strerror(errno));
			return;
		}
		int nout = 0;
		const bool gso = shim_udp_gso();
		for (int i = 0; i < n; i++) {
			// a truncated datagram keeps its first buf_size bytes: it will
			// not parse, and gets the parse error
			size_t len = w->in[i].msg_len;
			reply r = handle_datagram(static_cast<char *>(w->in_iov[i].iov_base), len);
			if (!r.data)
				continue;
			if (w->in[i].msg_hdr.msg_namelen <= (socklen_t)sizeof(sa_family_t)) {
				LM_DBG("unbound unix client: cannot reply\n");
				mi_free_reply(r.owned);
				continue;
			}
			w->out_iov[nout].iov_base = const_cast<char *>(r.data);
			w->out_iov[nout].iov_len = r.len;
			memset(&w->out[nout].msg_hdr, 0, sizeof w->out[nout].msg_hdr);
			w->out[nout].msg_hdr.msg_iov = &w->out_iov[nout];
			w->out[nout].msg_hdr.msg_iovlen = 1;
			w->out[nout].msg_hdr.msg_name = &w->from[i];
			w->out[nout].msg_hdr.msg_namelen = w->in[i].msg_hdr.msg_namelen;
			w->owned[nout] = r.owned;
			nout++;
			// A client with few requests in flight waits for each reply:
			// send at once while the rest of the batch is small, so the
			// client refills while we work; larger batches go out together.
			// With udp_gso on the whole batch goes at the end: a
			// destination's replies leave as one segmented send.
			if (!gso && (n <= kSmallBatch || n - i <= kFlushTail || nout == kBatch)) {
				send_replies(w, nout);
				for (int k = 0; k < nout; k++)
					mi_free_reply(w->owned[k]);
				nout = 0;
			}
		}
		send_replies(w, nout);
		for (int i = 0; i < nout; i++)
			mi_free_reply(w->owned[i]);
		if (n < kBatch && g_poll_ns == 0)
			return;
	}
}

void datagram_proc(int rank)
{
	struct ev_loop *loop = shim_thread_loop();
	if (!loop || g_fd < 0) {
		LM_CRIT("MI Datagram thread %d has no loop or socket\n", rank);
		return;
	}
	if (init_mi_child() < 0)
		LM_WARN("an MI command's per-thread init failed\n");
	auto w = std::make_unique<worker>();
	w->buf_size = (size_t)socket_buf_size;
	w->bufs.reset(new char[w->buf_size * kBatch]); // not zeroed: not resident until used
	ev_io_init(&w->io, on_readable, g_fd, EV_READ);
	w->io.data = w.get();
	ev_io_start(loop, &w->io);
	std::lock_guard lk(g_workers_lock);
	g_workers.push_back(std::move(w));
}

void mod_destroy(void)
{
	// The threads are stopped before destroy; the socket goes, and so does
	// the unix path we created (only if it is still ours).
	if (g_fd >= 0) {
		close(g_fd);
		g_fd = -1;
	}
	if (!g_unix_path.empty()) {
		struct stat st;
		if (lstat(g_unix_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(g_unix_path.c_str());
		g_unix_path.clear();
	}
}

const param_export_t params[] = {
	{"socket_name", STR_PARAM, &socket_name},
	{"children_count", INT_PARAM | USE_FUNC_PARAM, (void *)set_children_count},
	{"socket_timeout", INT_PARAM, &socket_timeout},
	{"socket_buf_size", INT_PARAM, &socket_buf_size},
	{"unix_socket_mode", INT_PARAM, &unix_socket_mode},
	{"unix_socket_group", STR_PARAM | INT_PARAM | USE_FUNC_PARAM, (void *)set_unix_group},
	{"unix_socket_user", STR_PARAM | INT_PARAM | USE_FUNC_PARAM, (void *)set_unix_user},
	{"pretty_printing", INT_PARAM, &pretty_printing},
	{"trace_destination", STR_PARAM, &trace_destination},
	{"trace_bwlist", STR_PARAM, &trace_bwlist},
	{nullptr, 0, nullptr},
};

} // namespace

extern "C" {

struct module_exports exports = {
	"mi_datagram",    /* module name */
	MOD_TYPE_DEFAULT, /* class of this module */
	MODULE_VERSION,   /* version and ABI */
	DEFAULT_DLFLAGS,  /* dlopen flags */
	nullptr,          /* load function */
	nullptr,          /* dependencies */
	nullptr,          /* script functions */
	nullptr,          /* async script functions */
	params,           /* modparams */
	nullptr,          /* statistics */
	nullptr,          /* MI commands */
	nullptr,          /* pseudo-variables */
	nullptr,          /* transformations */
	procs,            /* the "MI Datagram" threads */
	nullptr,          /* pre-init */
	mod_init,         /* module init */
	nullptr,          /* reply handler */
	mod_destroy,      /* destroy */
	nullptr,          /* per-thread init */
	nullptr,          /* reload ack */
};

} // extern "C"
