// event_virtual: several subscribers of other transports as one, the EVI
// socket `virtual:POLICY member [member ...]` (members separated by spaces
// or tabs, each in its own transport's syntax), with one expiry for the
// whole subscription (docs/event_virtual.md).
//
//   PARALLEL     every member gets every event; the event counts as
//                delivered when at least one member took it.
//   FAILOVER     each event goes to the first member that takes it, in the
//                order given; a member that fails (at once, or later: a TCP
//                collector that resets) is skipped for failover_timeout
//                seconds, and the event moves on to the next member, also
//                when the failure is only known later (then from the thread
//                that learns it).
//   ROUND-ROBIN  each event goes to the next member in turn.
//
// Unlike the reference, a socket with a lower-case or unknown policy, no
// member, a member of an unknown transport, a member its transport cannot
// parse, or a nested `virtual:` is refused at subscription, instead of
// being accepted and losing every event at raise time.
//
// Threads: `raise` runs on the host's EVI sender; late outcomes of members
// arrive on their transports' threads. Member counters are atomics; the
// round-robin cursor and the FAILOVER skip times are atomics too.
#include <atomic>
#include <cstring>
#include <deque>
#include <ctime>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "opensips/evi.h"
#include "opensips/evi_transport.h"
#include "opensips/sr_module.h"

namespace {

int failover_timeout = 30; // s

enum class policy { parallel, failover, round_robin };

struct member {
	const evi_export_t *tp = nullptr;
	evi_reply_sock *sock = nullptr;
	std::string text; // "udp:127.0.0.1:9000"
	std::atomic<unsigned long long> delivered{0}, failed{0}, dropped{0};
	std::atomic<long long> skip_until{0}; // monotonic ms
};

struct vsock {
	evi_reply_sock rs{};
	policy pol = policy::parallel;
	std::string printed; // "PARALLEL udp:... udp:..."
	std::vector<std::unique_ptr<member>> members;
	std::atomic<unsigned> next{0}; // round-robin cursor
};

vsock *from_rs(evi_reply_sock *rs) { return rs ? static_cast<vsock *>(rs->priv) : nullptr; }

void free_members(vsock *v)
{
	for (auto &m : v->members)
		if (m->sock && m->tp->free)
			m->tp->free(m->sock);
	v->members.clear();
}

bool is_ws(char c) { return c == ' ' || c == '\t'; }

long long now_ms()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

evi_reply_sock *parse(str socket)
{
	std::string s(socket.s ? socket.s : "", socket.s ? (size_t)socket.len : 0);
	size_t p = 0;
	auto next_token = [&]() {
		while (p < s.size() && is_ws(s[p]))
			p++;
		size_t b = p;
		while (p < s.size() && !is_ws(s[p]))
			p++;
		return s.substr(b, p - b);
	};
	std::string pol = next_token();
	auto v = std::make_unique<vsock>();
	if (pol == "PARALLEL")
		v->pol = policy::parallel;
	else if (pol == "FAILOVER")
		v->pol = policy::failover;
	else if (pol == "ROUND-ROBIN")
		v->pol = policy::round_robin;
	else {
		LM_ERR("virtual socket '%s': the policy must be PARALLEL, FAILOVER or "
		       "ROUND-ROBIN (upper case)\n", s.c_str());
		return nullptr;
	}
	v->printed = pol;
	for (std::string tok = next_token(); !tok.empty(); tok = next_token()) {
		size_t colon = tok.find(':');
		if (colon == std::string::npos || colon == 0) {
			LM_ERR("virtual socket '%s': member '%s' has no transport\n", s.c_str(),
			       tok.c_str());
			free_members(v.get());
			return nullptr;
		}
		std::string proto = tok.substr(0, colon);
		if (proto == "virtual") {
			LM_ERR("virtual socket '%s': a virtual member cannot be virtual\n",
			       s.c_str());
			free_members(v.get());
			return nullptr;
		}
		const evi_export_t *tp = evi_find_transport(str{proto.data(), (int)proto.size()});
		if (!tp) {
			LM_ERR("virtual socket '%s': no transport '%s' (load its module)\n",
			       s.c_str(), proto.c_str());
			free_members(v.get());
			return nullptr;
		}
		std::string rest = tok.substr(colon + 1);
		evi_reply_sock *ms = tp->parse(str{rest.data(), (int)rest.size()});
		if (!ms) {
			LM_ERR("virtual socket '%s': member '%s' does not parse\n", s.c_str(),
			       tok.c_str());
			free_members(v.get());
			return nullptr;
		}
		auto m = std::make_unique<member>();
		m->tp = tp;
		m->sock = ms;
		str pr = tp->print ? tp->print(ms) : str{rest.data(), (int)rest.size()};
		m->text = proto + ":" + std::string(pr.s ? pr.s : "", pr.s ? (size_t)pr.len : 0);
		v->printed += " " + m->text;
		v->members.push_back(std::move(m));
	}
	if (v->members.empty()) {
		LM_ERR("virtual socket '%s': no member\n", s.c_str());
		return nullptr;
	}
	v->rs.flags = EVI_EXPIRE; // one expiry for the whole subscription
	v->rs.priv = v.get();
	return &v.release()->rs;
}

int match(evi_reply_sock *a, evi_reply_sock *b)
{
	vsock *x = from_rs(a), *y = from_rs(b);
	if (!x || !y || x->pol != y->pol || x->members.size() != y->members.size())
		return 0;
	for (size_t i = 0; i < x->members.size(); i++) {
		member &p = *x->members[i], &q = *y->members[i];
		if (p.tp != q.tp || !(p.tp->match ? p.tp->match(p.sock, q.sock) : p.text == q.text))
			return 0;
	}
	return 1;
}

void free_sock(evi_reply_sock *sock)
{
	vsock *v = from_rs(sock);
	if (!v)
		return;
	free_members(v);
	delete v;
}

str print(evi_reply_sock *sock)
{
	vsock *v = from_rs(sock);
	return v ? str{v->printed.data(), (int)v->printed.size()} : str{nullptr, 0};
}

int members(evi_reply_sock *sock, evi_member_stat *out, int max)
{
	vsock *v = from_rs(sock);
	if (!v)
		return 0;
	long long now = now_ms();
	int n = 0;
	for (auto &m : v->members) {
		if (n < max && out[n].size == sizeof(evi_member_stat)) {
			snprintf(out[n].socket, sizeof out[n].socket, "%s", m->text.c_str());
			out[n].delivered = m->delivered.load();
			out[n].failed = m->failed.load();
			out[n].dropped = m->dropped.load();
			out[n].skipped = m->skip_until.load() > now;
		}
		n++;
	}
	return n;
}

// ---- delivery ----

void count(member &m, int outcome)
{
	switch (outcome) {
	case EVI_OUTCOME_DELIVERED: m.delivered.fetch_add(1); return;
	case EVI_OUTCOME_DROPPED: m.dropped.fetch_add(1); break;
	default: m.failed.fetch_add(1); break;
	}
	m.skip_until.store(now_ms() + 1000LL * failover_timeout);
}

// A copy of one event, for a FAILOVER member that fails after `raise`
// returned: the next member gets it from the thread that learns it.
struct event_copy {
	std::string name;
	str name_str{nullptr, 0};
	evi_params_p params = nullptr;
	std::string callid;
	// the bytes of parameter names and strings: the list only points at
	// them (evi_param_add_* do not copy)
	std::deque<std::string> bytes;
	std::deque<str> strs;
	~event_copy()
	{
		if (params)
			evi_free_params(params);
	}
};

std::unique_ptr<event_copy> copy_event(const evi_event &ev)
{
	auto c = std::make_unique<event_copy>();
	c->name.assign(ev.name->s, (size_t)ev.name->len);
	c->name_str = str{c->name.data(), (int)c->name.size()};
	if (ev.callid.s && ev.callid.len > 0)
		c->callid.assign(ev.callid.s, (size_t)ev.callid.len);
	c->params = evi_get_params();
	if (!c->params)
		return nullptr;
	auto keep = [&](const str &s) -> str * {
		c->bytes.emplace_back(s.s ? s.s : "", s.s ? (size_t)s.len : 0);
		c->strs.push_back(str{c->bytes.back().data(), (int)c->bytes.back().size()});
		return &c->strs.back();
	};
	for (evi_param_t *p = ev.params ? ev.params->first : nullptr; p; p = p->next) {
		str *name = p->name.s ? keep(p->name) : nullptr;
		int rc = (p->flags & EVI_INT_VAL)   ? evi_param_add_int(c->params, name, &p->val.n)
		         : (p->flags & EVI_STR_VAL) ? evi_param_add_str(c->params, name, keep(p->val.s))
		                                    : (evi_param_create(c->params, name) ? 0 : -1);
		if (rc < 0)
			return nullptr;
	}
	return c;
}

// An event whose outcome comes later: the host's ticket for it, and what
// settling it needs. Created when the first member asks for a ticket.
struct late_ctx {
	vsock *v = nullptr;
	evi_ticket *host = nullptr;
	std::unique_ptr<event_copy> ev; // FAILOVER only
	std::atomic<int> pending{1};    // PARALLEL: 1 for raise + 1 per member ticket
	std::atomic<bool> any_ok{false};
};

// A member's late outcome for one event: our ticket, handed to the member.
struct member_ticket {
	evi_ticket pub; // first: the member holds &pub
	late_ctx *ctx;
	size_t idx;     // the member's position
};

// While one member is called: what its ticket request needs.
struct frame {
	vsock *v;
	const evi_delivery *outer; // NULL once `raise` returned (FAILOVER retries)
	int index;
	size_t idx;
	late_ctx *ctx;
};

void member_settle(evi_ticket *t, int outcome);

evi_ticket *ticket_cb(const evi_delivery *md, int)
{
	auto *f = static_cast<frame *>(md->host);
	if (!f->ctx) {
		if (!f->outer || !f->outer->ticket)
			return nullptr;
		auto c = std::make_unique<late_ctx>();
		c->v = f->v;
		if (f->v->pol == policy::failover &&
		    !(c->ev = copy_event(f->outer->events[f->index])))
			return nullptr;
		c->host = f->outer->ticket(f->outer, f->index);
		if (!c->host)
			return nullptr;
		f->ctx = c.release();
	}
	auto *mt = new (std::nothrow) member_ticket{{sizeof(evi_ticket), member_settle}, f->ctx,
	                                            f->idx};
	if (mt)
		f->ctx->pending.fetch_add(1);
	return mt ? &mt->pub : nullptr;
}

// One event to member `f->idx`; its outcome (EVI_OUTCOME_LATER when the
// member took a ticket). Immediate outcomes are counted here.
int deliver_one(frame *f, const evi_event &ev)
{
	member &m = *f->v->members[f->idx];
	int out = -1;
	evi_event one = ev;
	evi_delivery md{sizeof(evi_delivery), m.sock, 1, &one, &out, ticket_cb, f};
	int rc = m.tp->raise(&md);
	if (out < EVI_OUTCOME_DELIVERED || out > EVI_OUTCOME_LATER || (rc < 0 && out == -1))
		out = EVI_OUTCOME_FAILED;
	if (out != EVI_OUTCOME_LATER)
		count(m, out);
	return out;
}

void finish(late_ctx *c, int outcome)
{
	c->host->settle(c->host, outcome);
	delete c;
}

// FAILOVER from member `from` on, after a failure; settles c's event.
void failover_from(late_ctx *c, size_t from)
{
	evi_event ev{&c->ev->name_str, c->ev->params,
	             str{c->ev->callid.empty() ? nullptr : c->ev->callid.data(),
	                 (int)c->ev->callid.size()}};
	for (size_t k = from; k < c->v->members.size(); k++) {
		frame f{c->v, nullptr, 0, k, c};
		int o = deliver_one(&f, ev);
		if (o == EVI_OUTCOME_LATER)
			return; // its ticket goes on from here
		if (o == EVI_OUTCOME_DELIVERED)
			return finish(c, EVI_OUTCOME_DELIVERED);
	}
	finish(c, EVI_OUTCOME_FAILED);
}

void member_settle(evi_ticket *t, int outcome)
{
	auto *mt = reinterpret_cast<member_ticket *>(t);
	late_ctx *c = mt->ctx;
	size_t idx = mt->idx;
	delete mt;
	count(*c->v->members[idx], outcome);
	switch (c->v->pol) {
	case policy::round_robin:
		return finish(c, outcome);
	case policy::failover:
		if (outcome == EVI_OUTCOME_DELIVERED)
			return finish(c, outcome);
		return failover_from(c, idx + 1); // the next member, from this thread
	case policy::parallel:
		if (outcome == EVI_OUTCOME_DELIVERED)
			c->any_ok.store(true);
		if (c->pending.fetch_sub(1) == 1)
			finish(c, c->any_ok.load() ? EVI_OUTCOME_DELIVERED : EVI_OUTCOME_FAILED);
		return;
	}
}

int raise_failover(vsock *v, evi_delivery *d, int i)
{
	long long now = now_ms();
	// the first pass skips members that failed within failover_timeout;
	// when each of them was skipped or failed, the second pass tries the
	// skipped ones anyway: an event is not lost while a member may take it
	for (int pass = 0; pass < 2; pass++) {
		bool skipped = false;
		for (size_t k = 0; k < v->members.size(); k++) {
			bool skip = v->members[k]->skip_until.load() > now;
			if (skip != (pass == 1)) {
				skipped |= skip;
				continue;
			}
			frame f{v, d, i, k, nullptr};
			int o = deliver_one(&f, d->events[i]);
			if (o == EVI_OUTCOME_LATER)
				return o; // the ticket settles the event (moving on if need be)
			if (o == EVI_OUTCOME_DELIVERED)
				return o;
		}
		if (!skipped)
			break;
	}
	return EVI_OUTCOME_FAILED;
}

int raise_parallel(vsock *v, evi_delivery *d, int i)
{
	frame f{v, d, i, 0, nullptr};
	bool ok = false;
	for (size_t k = 0; k < v->members.size(); k++) {
		f.idx = k;
		ok |= deliver_one(&f, d->events[i]) == EVI_OUTCOME_DELIVERED;
	}
	if (!f.ctx)
		return ok ? EVI_OUTCOME_DELIVERED : EVI_OUTCOME_FAILED;
	// some members answer later: the last one out settles the event
	if (ok)
		f.ctx->any_ok.store(true);
	late_ctx *c = f.ctx;
	if (c->pending.fetch_sub(1) == 1)
		finish(c, c->any_ok.load() ? EVI_OUTCOME_DELIVERED : EVI_OUTCOME_FAILED);
	return EVI_OUTCOME_LATER;
}

int raise_round_robin(vsock *v, evi_delivery *d, int i)
{
	frame f{v, d, i, v->next.fetch_add(1) % v->members.size(), nullptr};
	return deliver_one(&f, d->events[i]);
}

int raise(evi_delivery *d)
{
	vsock *v = from_rs(d->sock);
	if (!v || v->members.empty()) {
		evi_delivery_set_all(d, EVI_OUTCOME_FAILED);
		return -1;
	}
	for (int i = 0; i < d->count; i++) {
		switch (v->pol) {
		case policy::parallel: d->outcomes[i] = raise_parallel(v, d, i); break;
		case policy::failover: d->outcomes[i] = raise_failover(v, d, i); break;
		case policy::round_robin: d->outcomes[i] = raise_round_robin(v, d, i); break;
		}
	}
	return 0;
}

const evi_export_t virtual_export = {
	sizeof(evi_export_t), /* size */
	str_init("virtual"),  /* proto */
	raise,                /* raise: by policy, member by member */
	parse,                /* parse: "POLICY member [member ...]" */
	match,                /* match */
	free_sock,            /* free: the members too */
	print,                /* print */
	0,                    /* flags */
	members,              /* members: per-member counters */
};

int mod_init(void)
{
	if (failover_timeout < 0) {
		LM_ERR("failover_timeout must be >= 0\n");
		return -1;
	}
	if (register_event_mod(&virtual_export) < 0) {
		LM_ERR("cannot register the virtual event transport\n");
		return -1;
	}
	return 0;
}

const param_export_t params[] = {
	{"failover_timeout", INT_PARAM, &failover_timeout},
	{nullptr, 0, nullptr},
};

} // namespace

extern "C" {

struct module_exports exports = {
	"event_virtual",  /* module name */
	MOD_TYPE_DEFAULT, /* class of this module */
	MODULE_VERSION,   /* version and ABI */
	DEFAULT_DLFLAGS,  /* dlopen flags */
	nullptr,          /* load function */
	nullptr,          /* dependencies: the members' transports, any order */
	nullptr,          /* script functions */
	nullptr,          /* async script functions */
	params,           /* modparams: failover_timeout */
	nullptr,          /* statistics */
	nullptr,          /* MI commands */
	nullptr,          /* pseudo-variables */
	nullptr,          /* transformations */
	nullptr,          /* threads */
	nullptr,          /* pre-init */
	mod_init,         /* module init: registers `virtual` */
	nullptr,          /* reply handler */
	nullptr,          /* destroy */
	nullptr,          /* per-thread init */
	nullptr,          /* reload ack */
};

} // extern "C"
