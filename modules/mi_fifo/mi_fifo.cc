// mi_fifo: JSON-RPC over a named pipe (spec §5.5, decisions.md §13).
//
// The FIFO is created in mod_init (main thread), so a bad path fails
// startup. One thread, "MI FIFO", keeps it open O_RDWR (it is then never
// at EOF), reads requests framed as `:<reply_name>:<json>`, runs them in
// order and writes each reply to <reply_dir><reply_name>. Replies never
// stall the thread: a reply FIFO without a reader is retried on a timer
// (for 320 ms, soon at first, then less often) and a slow reader is fed
// from a write watcher, both bounded in time. Every 30 s the FIFO is checked and re-created if
// it was removed or replaced.
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ev.h>
#include <fcntl.h>
#include <grp.h>
#include <iterator>
#include <list>
#include <memory>
#include <pwd.h>
#include <ctime>
#include <poll.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "fifo_framing.h"
#include "opensips/host.h"
#include "opensips/mi.h"
#include "opensips/net.h"
#include "opensips/profiling.h"
#include "opensips/sr_module.h"

namespace {

// ---- modparams ----
char *fifo_name = nullptr; // default below
int fifo_mode = 0660;
char *reply_dir = nullptr; // default below
int pretty_printing = 0;
char *trace_destination = nullptr;
char *trace_bwlist = nullptr;
long fifo_uid = -1, fifo_gid = -1;

const char default_fifo_name[] = "/tmp/opensips_fifo";
const char default_reply_dir[] = "/tmp/";

// Gaps between the attempts to open a reply FIFO that has no reader yet
// (opensips-cli writes its request first and opens its reply FIFO after):
// short at first, since the reader is usually microseconds away, then
// longer; 320 ms in all, the reference's window (4 x 80 ms).
constexpr ev_tstamp reply_retry_gaps[] = {0.0002, 0.0005, 0.001, 0.002, 0.005,
                                          0.010,  0.020,  0.040, 0.080, 0.080,
                                          0.0813};
constexpr int reply_retries = (int)(sizeof reply_retry_gaps / sizeof reply_retry_gaps[0]);
constexpr ev_tstamp reply_write_timeout = 5.0;
constexpr ev_tstamp fifo_check_interval = 30.0;
constexpr size_t read_cap = 64 * 1024; // per wake-up

std::string g_path, g_reply_dir;
dev_t g_dev = 0;
ino_t g_ino = 0;

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
	char buf[4096];
	if (user) {
		struct passwd pw, *res = nullptr;
		if (getpwnam_r(v, &pw, buf, sizeof buf, &res) != 0 || !res)
			return -1;
		*out = (long)pw.pw_uid;
	} else {
		struct group gr, *res = nullptr;
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

int set_fifo_user(modparam_t type, void *val) { return set_owner(type, val, true, &fifo_uid); }
int set_fifo_group(modparam_t type, void *val) { return set_owner(type, val, false, &fifo_gid); }

// Removes whatever is at the path and makes a fresh FIFO with our mode and
// owner. 0 / -1.
int create_fifo()
{
	struct stat st;
	if (lstat(g_path.c_str(), &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			LM_ERR("fifo_name %s is a directory\n", g_path.c_str());
			return -1;
		}
		if (unlink(g_path.c_str()) < 0) {
			LM_ERR("cannot remove existing %s: %s\n", g_path.c_str(), strerror(errno));
			return -1;
		}
	}
	if (mkfifo(g_path.c_str(), 0600) < 0) {
		LM_ERR("cannot create FIFO %s: %s\n", g_path.c_str(), strerror(errno));
		return -1;
	}
	// chmod after mkfifo so the umask does not apply.
	if (chmod(g_path.c_str(), (mode_t)fifo_mode) < 0)
		LM_WARN("chmod %s: %s\n", g_path.c_str(), strerror(errno));
	if ((fifo_uid >= 0 || fifo_gid >= 0) &&
	    chown(g_path.c_str(), (uid_t)fifo_uid, (gid_t)fifo_gid) < 0)
		LM_WARN("chown %s: %s\n", g_path.c_str(), strerror(errno));
	return 0;
}

void sighup_cb(void *); // wakes the MI FIFO thread (below)

int mod_init(void)
{
	g_path = fifo_name && *fifo_name ? fifo_name : default_fifo_name;
	g_reply_dir = reply_dir && *reply_dir ? reply_dir : default_reply_dir;
	if (g_reply_dir.back() != '/')
		g_reply_dir += '/';
	if (g_reply_dir.size() >= mi_fifo::max_reply_path) {
		LM_ERR("reply_dir '%s' is too long\n", g_reply_dir.c_str());
		return -1;
	}
	if (fifo_mode < 0 || fifo_mode > 07777) {
		LM_ERR("bad fifo_mode %o\n", fifo_mode);
		return -1;
	}
	if (trace_destination || trace_bwlist)
		LM_DBG("trace_destination/trace_bwlist are accepted and ignored\n");
	shim_add_sighup_cb(sighup_cb, nullptr);
	return create_fifo();
}

void mod_destroy(void)
{
	// Remove the FIFO only if it is still the one we made.
	struct stat st;
	if (!g_path.empty() && lstat(g_path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode) &&
	    (g_ino == 0 || (st.st_ino == g_ino && st.st_dev == g_dev)))
		unlink(g_path.c_str());
}

// ---- replies ----

struct reply_job {
	std::string path;
	std::string data; // empty for notifications: open, then close
	size_t written = 0;
	int tries = 0;
	int fd = -1;
	ev_timer timer; // retry gap, then write timeout
	ev_io io;
	std::list<std::unique_ptr<reply_job>>::iterator self;
};

struct fifo_state {
	struct ev_loop *loop = nullptr;
	int fd = -1;
	ev_io io;
	ev_timer check;
	ev_async hup;        // SIGHUP: re-check (and re-create) at once
	std::string pending; // bytes read but not yet framed
	std::list<std::unique_ptr<reply_job>> jobs;
	unsigned long oversized = 0;
};

fifo_state *g_state = nullptr; // the MI FIFO thread's; reachable until exit

void job_done(reply_job *j)
{
	ev_timer_stop(g_state->loop, &j->timer);
	ev_io_stop(g_state->loop, &j->io);
	if (j->fd >= 0)
		close(j->fd);
	g_state->jobs.erase(j->self); // frees j
}

void drain_sigpipe()
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	struct timespec zero = {0, 0};
	while (sigtimedwait(&s, nullptr, &zero) > 0) {
	}
}

// Writes what it can. true when the job is finished (done or failed).
bool job_write(reply_job *j)
{
	while (j->written < j->data.size()) {
		ssize_t n = write(j->fd, j->data.data() + j->written, j->data.size() - j->written);
		if (n > 0) {
			j->written += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (n < 0 && errno == EPIPE)
			drain_sigpipe();
		LM_DBG("reply to %s cut short: %s\n", j->path.c_str(), strerror(errno));
		return true;
	}
	return true;
}

void on_job_writable(struct ev_loop *, ev_io *io, int)
{
	reply_job *j = (reply_job *)io->data;
	if (job_write(j))
		job_done(j);
}

void job_try_open(reply_job *j);

void on_job_timer(struct ev_loop *, ev_timer *t, int)
{
	reply_job *j = (reply_job *)t->data;
	if (j->fd >= 0) {
		LM_DBG("reply to %s timed out\n", j->path.c_str());
		job_done(j);
		return;
	}
	job_try_open(j);
}

void job_try_open(reply_job *j)
{
	int fd = open(j->path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENXIO && j->tries < reply_retries) {
			ev_timer_set(&j->timer, reply_retry_gaps[j->tries++], 0.);
			ev_timer_start(g_state->loop, &j->timer);
			return;
		}
		LM_DBG("cannot open reply FIFO %s: %s\n", j->path.c_str(), strerror(errno));
		job_done(j);
		return;
	}
	j->fd = fd;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		LM_WARN("reply target %s is not a FIFO; not writing to it\n", j->path.c_str());
		job_done(j);
		return;
	}
	if (job_write(j)) {
		job_done(j);
		return;
	}
	ev_io_init(&j->io, on_job_writable, fd, EV_WRITE);
	j->io.data = j;
	ev_io_start(g_state->loop, &j->io);
	ev_timer_set(&j->timer, reply_write_timeout, 0.);
	ev_timer_start(g_state->loop, &j->timer);
}

void send_reply(std::string_view name, const char *data, size_t len)
{
	auto job = std::make_unique<reply_job>();
	reply_job *j = job.get();
	j->path = g_reply_dir;
	j->path.append(name.data(), name.size());
	j->data.assign(data, len);
	ev_timer_init(&j->timer, on_job_timer, 0., 0.);
	j->timer.data = j;
	ev_io_init(&j->io, on_job_writable, -1, EV_WRITE);
	j->io.data = j;
	g_state->jobs.push_back(std::move(job));
	j->self = std::prev(g_state->jobs.end());
	job_try_open(j);
}

// ---- requests ----

void note_oversized()
{
	if (g_state->oversized++ == 0)
		LM_WARN("discarded an MI FIFO request longer than %zu bytes (logged "
		        "once; later ones are counted)\n", mi_fifo::max_request);
	else
		LM_DBG("discarded an oversized MI FIFO request (%lu so far)\n",
		       g_state->oversized);
}

void run_frame(const char *buf, const mi_fifo::frame &f)
{
	std::string_view name = f.reply_name;
	if (!mi_fifo::valid_reply_name(name) ||
	    g_reply_dir.size() + name.size() >= mi_fifo::max_reply_path) {
		LM_DBG("bad reply FIFO name '%.*s': request discarded\n", (int)name.size(),
		       name.data());
		return;
	}
	char *reply = nullptr;
	int reply_len = 0;
	const char *pname = shim_prof_session_level >= SHIM_PROF_EXTRAPROCS
	                        ? shim_prof_mi_name("MI_FIFO", buf + f.json_off,
	                                            (int)(f.end - f.json_off))
	                        : nullptr;
	if (pname) SHIM_PROF_ENTER(SHIM_PROF_EXTRAPROCS, pname, 0);
	int rc = mi_run_jsonrpc(buf + f.json_off, (int)(f.end - f.json_off),
	                        pretty_printing, "fifo", &reply, &reply_len);
	if (pname) SHIM_PROF_EXIT(SHIM_PROF_EXTRAPROCS, pname, rc);
	if (!name.empty()) {
		switch (rc) {
		case MI_RUN_REPLY:
			send_reply(name, reply, (size_t)reply_len);
			break;
		case MI_RUN_NO_REPLY:
			send_reply(name, "", 0);
			break;
		case MI_RUN_PARSE_ERROR:
			break; // as the reference: nothing at all
		default: {
			static const char text[] = "failed to build response";
			send_reply(name, text, sizeof text - 1);
		}
		}
	}
	mi_free_reply(reply);
}

// Frames and runs what is in `pending`. With `drained` (the pipe is empty)
// an incomplete tail can never complete, since clients write a request in
// one write() of at most PIPE_BUF bytes: it is discarded.
void process_pending(bool drained)
{
	std::string &buf = g_state->pending;
	size_t off = 0;
	for (;;) {
		mi_fifo::frame f = mi_fifo::scan_frame(buf.data(), buf.size(), off);
		if (f.status == mi_fifo::frame_status::empty) {
			buf.clear();
			return;
		}
		if (f.status == mi_fifo::frame_status::ok) {
			if (f.end - f.start > mi_fifo::max_request)
				note_oversized();
			else
				run_frame(buf.data(), f);
			off = f.end;
			continue;
		}
		if (f.status == mi_fifo::frame_status::incomplete) {
			size_t have = buf.size() - f.start;
			if (have > mi_fifo::max_request) {
				note_oversized();
			} else if (!drained) {
				buf.erase(0, f.start);
				return;
			} else {
				LM_DBG("incomplete MI FIFO request discarded (%zu bytes)\n", have);
			}
			buf.clear();
			return;
		}
		LM_DBG("MI FIFO input without ':<reply>:' framing or JSON discarded\n");
		buf.clear();
		return;
	}
}

// Reads what the FIFO holds (up to read_cap) and runs the complete
// requests. Returns whether the FIFO was drained.
bool read_and_run()
{
	char tmp[4096];
	size_t got = 0;
	bool drained = false;
	SHIM_PROF_START(SHIM_PROF_EXTRAPROCS, nullptr, 0);
	SHIM_PROF_ENTER(SHIM_PROF_EXTRAPROCS, "MI_FIFO reading", 0);
	while (got < read_cap) {
		ssize_t n = read(g_state->fd, tmp, sizeof tmp);
		if (n > 0) {
			g_state->pending.append(tmp, (size_t)n);
			got += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		drained = true; // EAGAIN (or EOF, impossible with O_RDWR)
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			LM_ERR("read from %s: %s\n", g_path.c_str(), strerror(errno));
		break;
	}
	process_pending(drained);
	SHIM_PROF_EXIT(SHIM_PROF_EXTRAPROCS, "MI_FIFO", 0);
	SHIM_PROF_END(SHIM_PROF_EXTRAPROCS, 0);
	return drained;
}

// busy_poll_usec: after the FIFO was drained, on_fifo_readable polls it
// that long for the next request (a client sending request after request
// is served without a wake-up of this thread). 1 when something came.
int fifo_has_more(void *)
{
	struct pollfd p = {g_state->fd, POLLIN, 0};
	return poll(&p, 1, 0) > 0;
}

void on_fifo_readable(struct ev_loop *, ev_io *, int)
{
	const long long poll_ns = (long long)shim_busy_poll_usec() * 1000;
	// bounded, so the reply timers and the FIFO check still run
	for (int round = 0; round < 64; round++)
		if (!read_and_run() || !poll_ns ||
		    !shim_busy_poll(fifo_has_more, nullptr, poll_ns, nullptr))
			break;
}

int open_fifo_fd()
{
	int fd = open(g_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		LM_ERR("cannot open FIFO %s: %s\n", g_path.c_str(), strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		LM_ERR("%s is not a FIFO\n", g_path.c_str());
		close(fd);
		return -1;
	}
	g_dev = st.st_dev;
	g_ino = st.st_ino;
	return fd;
}

void reopen_fifo()
{
	if (create_fifo() < 0)
		return;
	int fd = open_fifo_fd();
	if (fd < 0)
		return;
	ev_io_stop(g_state->loop, &g_state->io);
	if (g_state->fd >= 0)
		close(g_state->fd);
	g_state->fd = fd;
	g_state->pending.clear();
	ev_io_set(&g_state->io, fd, EV_READ);
	ev_io_start(g_state->loop, &g_state->io);
	LM_NOTICE("MI FIFO %s re-created\n", g_path.c_str());
}

void on_check(struct ev_loop *, ev_timer *, int)
{
	struct stat st;
	if (lstat(g_path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode) &&
	    st.st_ino == g_ino && st.st_dev == g_dev && g_state->fd >= 0)
		return;
	LM_WARN("MI FIFO %s is gone or was replaced; re-creating it\n", g_path.c_str());
	reopen_fifo();
}

void on_hup(struct ev_loop *, ev_async *, int)
{
	on_check(nullptr, nullptr, 0);
}

// Main thread, on SIGHUP: wake the MI FIFO thread (it owns the FIFO).
void sighup_cb(void *)
{
	if (g_state && g_state->loop)
		ev_async_send(g_state->loop, &g_state->hup);
}

void fifo_proc(int)
{
	struct ev_loop *loop = shim_thread_loop();
	if (!loop) {
		LM_CRIT("MI FIFO thread has no event loop\n");
		return;
	}
	// A reader that goes away must not kill the host: EPIPE instead.
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &s, nullptr);

	if (init_mi_child() < 0)
		LM_WARN("an MI command's per-thread init failed\n");
	static fifo_state state;
	g_state = &state;
	state.loop = loop;
	state.fd = open_fifo_fd();
	ev_io_init(&state.io, on_fifo_readable, state.fd, EV_READ);
	if (state.fd >= 0)
		ev_io_start(loop, &state.io);
	ev_timer_init(&state.check, on_check, fifo_check_interval, fifo_check_interval);
	ev_timer_start(loop, &state.check);
	ev_async_init(&state.hup, on_hup);
	ev_async_start(loop, &state.hup);
}

proc_export_t procs[] = {
	{"MI FIFO", nullptr, nullptr, fifo_proc, 1, PROC_FLAG_INITCHILD},
	{nullptr, nullptr, nullptr, nullptr, 0, 0},
};

const param_export_t params[] = {
	{"fifo_name", STR_PARAM, &fifo_name},
	{"fifo_mode", INT_PARAM, &fifo_mode},
	{"fifo_group", STR_PARAM | INT_PARAM | USE_FUNC_PARAM, (void *)set_fifo_group},
	{"fifo_user", STR_PARAM | INT_PARAM | USE_FUNC_PARAM, (void *)set_fifo_user},
	{"reply_dir", STR_PARAM, &reply_dir},
	{"pretty_printing", INT_PARAM, &pretty_printing},
	{"trace_destination", STR_PARAM, &trace_destination},
	{"trace_bwlist", STR_PARAM, &trace_bwlist},
	{nullptr, 0, nullptr},
};

} // namespace

extern "C" {

struct module_exports exports = {
	"mi_fifo",        /* module name */
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
	procs,            /* the "MI FIFO" thread */
	nullptr,          /* pre-init */
	mod_init,         /* module init: creates the FIFO */
	nullptr,          /* reply handler */
	mod_destroy,      /* destroy: removes the FIFO */
	nullptr,          /* per-thread init */
	nullptr,          /* reload ack */
};

} // extern "C"
