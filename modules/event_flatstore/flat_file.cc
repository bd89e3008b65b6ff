// event_flatstore: socket parsing, the line format, writing and rotation.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <limits.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <new>

#include "opensips/evi.h"

#include "flatstore.h"

namespace evflat {

int max_open_sockets = 100;
char *delimiter = nullptr;        // NULL: ","
char *escape_delimiter = nullptr;
char *file_permissions = nullptr; // NULL: "644"
int suppress_event_name = 0;
int rotate_period = 0;
unsigned long long rotate_count = 0;
unsigned long long rotate_size = 0;
char *suffix = nullptr;

event_id_t g_rotation_ev = EVI_ERROR;

namespace {

std::string g_delim = ",";
mode_t g_mode = 0644;

std::mutex g_reg_lock;
std::map<std::string, std::shared_ptr<flat_file>> g_files; // g_reg_lock

constexpr time_t log_interval = 30;

flat_sock *from_rs(evi_reply_sock *rs)
{
	return rs ? static_cast<flat_sock *>(rs->priv) : nullptr;
}

// Caller holds f.lock.
void note_failure(flat_file &f, const char *what, int err)
{
	f.failed++;
	f.unlogged++;
	time_t now = time(nullptr);
	if (f.failing && now - f.last_log < log_interval)
		return;
	LM_ERR("flatstore:%s: %s: %s (%lu event(s) lost since the last report)\n",
	       f.path.c_str(), what, err ? strerror(err) : "short write", f.unlogged);
	f.failing = true;
	f.last_log = now;
	f.unlogged = 0;
}

// Caller holds f.lock. 0 / -1 (f.fd stays -1, retried on the next event).
int open_locked(flat_file &f, time_t now)
{
	if (f.fd >= 0)
		return 0;
	std::string name = expand_name(f.path, now);
	int fd = open(name.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, g_mode);
	if (fd < 0) {
		note_failure(f, ("cannot open " + name).c_str(), errno);
		return -1;
	}
	struct stat st;
	f.bytes = fstat(fd, &st) == 0 ? (unsigned long long)st.st_size : 0;
	f.fd = fd;
	f.filename = name;
	f.lines = 0;
	return 0;
}

void close_locked(flat_file &f)
{
	if (f.fd >= 0)
		close(f.fd);
	f.fd = -1;
}

bool is_dir(const std::string &p)
{
	struct stat st;
	return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

} // namespace

flat_file::~flat_file()
{
	if (fd >= 0)
		close(fd);
}

long long parse_size(const char *s)
{
	if (!s || !*s)
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || errno || *s == '-')
		return -1;
	unsigned long long mul = 1;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': mul = 1ULL << 10; break;
		case 'm': case 'M': mul = 1ULL << 20; break;
		case 'g': case 'G': mul = 1ULL << 30; break;
		default: return -1;
		}
		if (end[1])
			return -1;
	}
	if (v > (unsigned long long)LLONG_MAX / mul)
		return -1;
	return (long long)(v * mul);
}

int set_rotate_count(modparam_t type, void *val)
{
	if (PARAM_TYPE_MASK(type) & INT_PARAM) {
		long v = (long)val;
		if (v < 0)
			return -1;
		rotate_count = (unsigned long long)v;
		return 0;
	}
	const char *s = (const char *)val;
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno) {
		LM_ERR("rotate_count '%s' is not a number\n", s);
		return -1;
	}
	rotate_count = v;
	return 0;
}

int set_rotate_size(modparam_t type, void *val)
{
	if (PARAM_TYPE_MASK(type) & INT_PARAM) {
		long v = (long)val;
		if (v < 0)
			return -1;
		rotate_size = (unsigned long long)v;
		return 0;
	}
	long long v = parse_size((const char *)val);
	if (v < 0) {
		LM_ERR("rotate_size '%s': expected a number with an optional k, m or g\n",
		       (const char *)val);
		return -1;
	}
	rotate_size = (unsigned long long)v;
	return 0;
}

int init_config()
{
	if (max_open_sockets < 1 || max_open_sockets > 65535) {
		LM_WARN("max_open_sockets %d out of range 1..65535, using 100\n", max_open_sockets);
		max_open_sockets = 100;
	}
	g_delim = delimiter ? delimiter : ",";
	if (g_delim.empty()) {
		LM_ERR("delimiter must not be empty\n");
		return -1;
	}
	if (escape_delimiter && strlen(escape_delimiter) != g_delim.size()) {
		LM_ERR("escape_delimiter must have the same length as delimiter\n");
		return -1;
	}
	const char *perm = file_permissions ? file_permissions : "644";
	char *end;
	errno = 0;
	long m = strtol(perm, &end, 8);
	if (!*perm || *end || errno || m < 0 || m > 07777) {
		LM_ERR("file_permissions '%s' is not an octal mode\n", perm);
		return -1;
	}
	g_mode = (mode_t)m;
	if (rotate_period < 0) {
		LM_ERR("rotate_period must not be negative\n");
		return -1;
	}
	return 0;
}

std::string expand_name(const std::string &path, time_t now)
{
	if (!suffix || !*suffix)
		return path;
	std::string out = path;
	const char *s = suffix;
	while (*s) {
		if (strncmp(s, "$Ts", 3) == 0) {
			out += std::to_string((long long)now);
			s += 3;
		} else if (strncmp(s, "$time(", 6) == 0 && strchr(s + 6, ')')) {
			const char *close_p = strchr(s + 6, ')');
			std::string fmt(s + 6, (size_t)(close_p - (s + 6)));
			struct tm tm;
			localtime_r(&now, &tm);
			char buf[256];
			size_t n = strftime(buf, sizeof buf, fmt.c_str(), &tm);
			out.append(buf, n);
			s = close_p + 1;
		} else {
			out += *s++;
		}
	}
	return out;
}

evi_reply_sock *parse(str socket)
{
	if (!socket.s || socket.len <= 0)
		return nullptr;
	std::string path(socket.s, (size_t)socket.len);
	if (path.find('\0') != std::string::npos || path.size() >= PATH_MAX)
		return nullptr;
	size_t slash = path.rfind('/');
	std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
	if (!is_dir(dir)) {
		LM_ERR("flatstore:%s: directory %s does not exist\n", path.c_str(), dir.c_str());
		return nullptr;
	}
	if (slash + 1 == path.size() || is_dir(path)) {
		LM_ERR("flatstore:%s: is a directory\n", path.c_str());
		return nullptr;
	}
	auto *fs = new (std::nothrow) flat_sock;
	if (!fs)
		return nullptr;
	{
		std::lock_guard lk(g_reg_lock);
		auto it = g_files.find(path);
		if (it == g_files.end()) {
			if ((int)g_files.size() >= max_open_sockets) {
				LM_ERR("flatstore:%s: max_open_sockets (%d) files already in use\n",
				       path.c_str(), max_open_sockets);
				delete fs;
				return nullptr;
			}
			auto f = std::make_shared<flat_file>();
			f->path = path;
			it = g_files.emplace(path, std::move(f)).first;
		}
		it->second->refs++;
		fs->file = it->second;
	}
	fs->rs.flags = EVI_EXPIRE;
	fs->rs.priv = fs;
	return &fs->rs;
}

int match(evi_reply_sock *a, evi_reply_sock *b)
{
	flat_sock *x = from_rs(a), *y = from_rs(b);
	return x && y && x->file->path == y->file->path;
}

void free_sock(evi_reply_sock *sock)
{
	flat_sock *fs = from_rs(sock);
	if (!fs)
		return;
	std::shared_ptr<flat_file> f = std::move(fs->file);
	delete fs;
	bool last = false;
	{
		std::lock_guard lk(g_reg_lock);
		if (--f->refs == 0) {
			g_files.erase(f->path);
			last = true;
		}
	}
	if (last) {
		std::lock_guard lk(f->lock);
		close_locked(*f);
	}
}

str print(evi_reply_sock *sock)
{
	flat_sock *fs = from_rs(sock);
	if (!fs)
		return str{nullptr, 0};
	return str{fs->file->path.data(), (int)fs->file->path.size()};
}

std::vector<struct iovec> format_line(const str *ev_name, const evi_params_t *params,
                                      std::string &scratch)
{
	// Pieces point into the event or into `scratch` (by offset, since
	// scratch grows); converted to iovecs at the end.
	struct piece {
		const char *p; // nullptr: scratch at `off`
		size_t off, len;
	};
	std::vector<piece> pieces;
	scratch.clear();
	const char dc = g_delim[0];
	bool first = true;
	if (!suppress_event_name && ev_name && ev_name->len > 0) {
		pieces.push_back({ev_name->s, 0, (size_t)ev_name->len});
		first = false;
	}
	for (const evi_param_t *p = params ? params->first : nullptr; p; p = p->next) {
		if (!first)
			pieces.push_back({g_delim.data(), 0, g_delim.size()});
		first = false;
		if (p->flags & EVI_INT_VAL) {
			size_t off = scratch.size();
			scratch += std::to_string(p->val.n);
			pieces.push_back({nullptr, off, scratch.size() - off});
		} else if ((p->flags & EVI_STR_VAL) && p->val.s.s && p->val.s.len > 0) {
			const char *s = p->val.s.s;
			size_t len = (size_t)p->val.s.len;
			if (!memchr(s, dc, len)) {
				pieces.push_back({s, 0, len});
			} else {
				// Every byte equal to the delimiter's first character becomes
				// a space; after that the full delimiter cannot occur, so
				// escape_delimiter has nothing left to replace (spec §8.13).
				size_t off = scratch.size();
				scratch.append(s, len);
				for (size_t i = off; i < scratch.size(); i++)
					if (scratch[i] == dc)
						scratch[i] = ' ';
				pieces.push_back({nullptr, off, len});
			}
		} // no value, or an empty string: an empty column
	}
	static const char nl = '\n';
	pieces.push_back({&nl, 0, 1});
	std::vector<struct iovec> iov;
	iov.reserve(pieces.size());
	for (const piece &pc : pieces)
		iov.push_back({(void *)(pc.p ? pc.p : scratch.data() + pc.off), pc.len});
	return iov;
}

std::string line_text(const str *ev_name, const evi_params_t *params)
{
	std::string scratch, out;
	for (const struct iovec &v : format_line(ev_name, params, scratch))
		out.append((const char *)v.iov_base, v.iov_len);
	return out;
}

rotation rotate_locked(flat_file &f, const char *reason)
{
	rotation r;
	r.reason = reason;
	r.when = time(nullptr);
	bool was_open = f.fd >= 0;
	std::string old = was_open ? f.filename : std::string();
	close_locked(f);
	std::string next = expand_name(f.path, r.when);
	if (was_open && strcmp(reason, "mi") != 0 && next == old) {
		// Same name again (no time-dependent suffix): move the full file
		// aside as <name>.<epoch>[.<n>] so the new one starts empty.
		std::string aside = old + "." + std::to_string((long long)r.when);
		std::string cand = aside;
		for (int n = 1; access(cand.c_str(), F_OK) == 0 && n < 1000; n++)
			cand = aside + "." + std::to_string(n);
		if (rename(old.c_str(), cand.c_str()) == 0)
			old = cand;
		else
			note_failure(f, ("cannot rename " + old).c_str(), errno);
	}
	// mi: a plain reopen, for files moved away by logrotate and the like.
	open_locked(f, r.when);
	r.filename = f.fd >= 0 ? f.filename : next;
	r.old_filename = old;
	return r;
}

void raise_rotation(const rotation &r)
{
	if (g_rotation_ev == EVI_ERROR || evi_probe_event(g_rotation_ev) <= 0)
		return;
	static str n_ts = str_init("timestamp"), n_reason = str_init("reason"),
	           n_file = str_init("filename"), n_old = str_init("old_filename");
	std::string ts = std::to_string((long long)r.when);
	str v_ts{ts.data(), (int)ts.size()};
	str v_reason{(char *)r.reason.data(), (int)r.reason.size()};
	str v_file{(char *)r.filename.data(), (int)r.filename.size()};
	str v_old{(char *)r.old_filename.data(), (int)r.old_filename.size()};
	evi_params_p p = evi_get_params();
	if (!p)
		return;
	if (evi_param_add_str(p, &n_ts, &v_ts) < 0 || evi_param_add_str(p, &n_reason, &v_reason) < 0 ||
	    evi_param_add_str(p, &n_file, &v_file) < 0 || evi_param_add_str(p, &n_old, &v_old) < 0) {
		evi_free_params(p);
		return;
	}
	evi_raise_event(g_rotation_ev, p);
}

// One line for one event, one writev: 0, or -1 (counted as failed).
int write_one(flat_sock *fs, const str *ev_name, evi_params_t *params)
{
	std::shared_ptr<flat_file> f = fs->file;
	static thread_local std::string scratch;
	std::vector<struct iovec> iov = format_line(ev_name, params, scratch);
	size_t total = 0;
	for (const struct iovec &v : iov)
		total += v.iov_len;
	int rc = 0;
	rotation rot;
	bool rotated = false;
	{
		std::lock_guard lk(f->lock);
		if (open_locked(*f, time(nullptr)) < 0)
			return -1;
		ssize_t n;
		if (iov.size() <= IOV_MAX) {
			do {
				n = writev(f->fd, iov.data(), (int)iov.size());
			} while (n < 0 && errno == EINTR);
		} else { // very many params: still one write
			std::string line;
			line.reserve(total);
			for (const struct iovec &v : iov)
				line.append((const char *)v.iov_base, v.iov_len);
			do {
				n = write(f->fd, line.data(), line.size());
			} while (n < 0 && errno == EINTR);
		}
		if (n < 0 || (size_t)n != total) {
			int err = n < 0 ? errno : 0;
			if (n > 0)
				f->bytes += (unsigned long long)n;
			note_failure(*f, "cannot write", err);
			// A descriptor that went bad is reopened on the next event.
			if (err == EBADF || err == ESTALE || err == EIO)
				close_locked(*f);
			return -1;
		}
		f->written++;
		if (f->failing) {
			LM_NOTICE("flatstore:%s: writing again\n", f->path.c_str());
			f->failing = false;
		}
		f->lines++;
		f->bytes += total;
		const char *why = nullptr;
		if (rotate_count && f->lines >= rotate_count)
			why = "count";
		else if (rotate_size && f->bytes >= rotate_size)
			why = "size";
		if (why) {
			rot = rotate_locked(*f, why);
			rotated = true;
		}
	}
	if (rotated)
		raise_rotation(rot);
	return rc;
}

int raise(evi_delivery *d)
{
	flat_sock *fs = from_rs(d->sock);
	if (!fs) {
		evi_delivery_set_all(d, EVI_OUTCOME_FAILED);
		return -1;
	}
	for (int i = 0; i < d->count; i++)
		d->outcomes[i] = write_one(fs, d->events[i].name, d->events[i].params) < 0
		                     ? EVI_OUTCOME_FAILED
		                     : EVI_OUTCOME_DELIVERED;
	return 0;
}

int rotate_path(const std::string &path)
{
	std::shared_ptr<flat_file> f = find_file(path);
	if (!f)
		return -1;
	rotation r;
	{
		std::lock_guard lk(f->lock);
		r = rotate_locked(*f, "mi");
	}
	raise_rotation(r);
	return 0;
}

void period_check(time_t now)
{
	if (rotate_period <= 0 || now % rotate_period != 0)
		return;
	std::vector<std::shared_ptr<flat_file>> files;
	{
		std::lock_guard lk(g_reg_lock);
		for (auto &[p, f] : g_files)
			files.push_back(f);
	}
	for (auto &f : files) {
		rotation r;
		{
			std::lock_guard lk(f->lock);
			if (f->fd < 0 || f->last_period == now)
				continue; // nothing written yet, or done this second
			f->last_period = now;
			r = rotate_locked(*f, "period");
		}
		raise_rotation(r);
	}
}

std::shared_ptr<flat_file> find_file(const std::string &path)
{
	std::lock_guard lk(g_reg_lock);
	auto it = g_files.find(path);
	return it == g_files.end() ? nullptr : it->second;
}

size_t open_files()
{
	std::lock_guard lk(g_reg_lock);
	return g_files.size();
}

void close_all()
{
	std::lock_guard lk(g_reg_lock);
	for (auto &[p, f] : g_files) {
		std::lock_guard fl(f->lock);
		close_locked(*f);
	}
}

const evi_export_t flatstore_export = {
	sizeof(evi_export_t),  /* size */
	str_init("flatstore"), /* proto */
	raise,                 /* raise: a line per event, one writev each */
	parse,                 /* parse */
	match,                 /* match */
	free_sock,             /* free */
	print,                 /* print */
	0,                     /* flags */
	nullptr,               /* members */
};

} // namespace evflat
