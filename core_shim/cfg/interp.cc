// The route interpreter, cfg_fixup and the pseudo-variable API (spec §6.3,
// §7.2-7.3). Thread-safe: the tree is read-only once fixed up; every run
// keeps its state (return code, $avp lists, $param frames) on the stack of
// the calling thread; $var lives in a thread_local map.
#include <cstring>
#include <list>
#include <map>
#include <unordered_map>

#include "util/regex_guard.h"
#include "cfg/ast.h"
#include "settings/globals.h"
#include "cfg/lexer.h"
#include "cfg/script.h"
#include "evi/evi_core.h"
#include "log/log.h"
#include "opensips/dprint.h"
#include "profiling/prof_core.h"
#include "sip/sip_msg_impl.h"

namespace shim::cfg {

namespace {

struct frame {
	const std::vector<value> *args = nullptr;                       // route(X, ...)
	const std::vector<std::pair<std::string, value>> *named = nullptr; // events
};

struct run_ctx {
	sip_msg *msg = nullptr;
	int rc = 0;
	int flags = 0;
	bool stop = false;
	int depth = 0;
	bool prof = false; // E_PROFILING_SCRIPT records for this run
	std::map<std::string, std::vector<value>> avps; // newest at the back
	// strings handed to modules (stable addresses; a list, unlike a deque,
	// allocates nothing until used, and most runs never use it)
	std::list<std::string> scratch;
};

thread_local run_ctx *t_ctx = nullptr;
thread_local const frame *t_frame = nullptr;
thread_local std::unordered_map<std::string, value> t_vars;
thread_local int t_last_act_flags = 0;

constexpr int MAX_ROUTE_DEPTH = 100;
constexpr int MAX_WHILE_LOOPS = 10000;

value str_of(const str &s)
{
	if (!s.s) return value::null();
	return value::of_str(std::string(s.s, s.len));
}

// The URI inside a From/To value: between <> when present, else up to ';'.
value uri_of(const str &hdr)
{
	if (!hdr.s) return value::null();
	std::string v(hdr.s, hdr.len);
	size_t lt = v.find('<');
	if (lt != std::string::npos) {
		size_t gt = v.find('>', lt);
		return value::of_str(v.substr(lt + 1, gt == std::string::npos
		                                          ? std::string::npos
		                                          : gt - lt - 1));
	}
	return value::of_str(v.substr(0, v.find(';')));
}

bool to_int(const value &v, long &out)
{
	if (v.kind == value::INT) { out = v.i; return true; }
	if (v.kind != value::STR) return false;
	const std::string &s = v.s;
	bool neg = !s.empty() && (s[0] == '-' || s[0] == '+');
	long n;
	if (!parse_number(neg ? s.substr(1) : s, n)) return false;
	out = (neg && s[0] == '-') ? -n : n;
	return true;
}

std::string to_text(const value &v)
{
	if (v.kind == value::INT) return std::to_string(v.i);
	return v.s; // NUL gives ""
}

value get_pv(const pv_spec &p, run_ctx &ctx, const frame *fr)
{
	sip_msg *m = ctx.msg;
	switch (p.kind) {
	case pv_spec::RC: return value::of_int(ctx.rc);
	case pv_spec::VAR: {
		auto it = t_vars.find(p.name);
		return it == t_vars.end() ? value::null() : it->second;
	}
	case pv_spec::AVP: {
		auto it = ctx.avps.find(p.name);
		if (it == ctx.avps.end() || it->second.empty()) return value::null();
		return it->second.back();
	}
	case pv_spec::PARAM:
		if (!fr) return value::null();
		if (p.index > 0) {
			if (fr->args && p.index <= (int)fr->args->size())
				return (*fr->args)[p.index - 1];
			if (fr->named && p.index <= (int)fr->named->size())
				return (*fr->named)[p.index - 1].second;
			return value::null();
		}
		if (fr->named)
			for (auto &kv : *fr->named)
				if (kv.first == p.name) return kv.second;
		return value::null();
	case pv_spec::RM: return m ? str_of(m->method) : value::null();
	case pv_spec::RU: return m ? str_of(m->ruri) : value::null();
	case pv_spec::RU_USER:
		return m && m->ruri_user.len > 0 ? str_of(m->ruri_user) : value::null();
	case pv_spec::SI:
		return m && m->src_ip[0] ? value::of_str(m->src_ip) : value::null();
	case pv_spec::SP: return m ? value::of_int(m->src_port) : value::null();
	case pv_spec::CI: return m ? str_of(m->callid) : value::null();
	case pv_spec::FU: return m ? uri_of(m->from) : value::null();
	case pv_spec::TU: return m ? uri_of(m->to) : value::null();
	case pv_spec::LOG_LEVEL: return value::of_int(shim_log_level());
	}
	return value::null();
}

int set_pv(const pv_spec &p, run_ctx &ctx, value v)
{
	if (p.kind == pv_spec::VAR) {
		if (v.kind == value::NUL) t_vars.erase(p.name);
		else t_vars[p.name] = std::move(v);
		return 0;
	}
	if (p.kind == pv_spec::AVP) {
		if (v.kind == value::NUL) ctx.avps.erase(p.name);
		else ctx.avps[p.name].push_back(std::move(v));
		return 0;
	}
	return -1;
}

std::string expand(const format &f, run_ctx &ctx, const frame *fr)
{
	std::string out;
	for (auto &p : f.parts) {
		if (!p.spec) { out += p.text; continue; }
		value v = get_pv(*p.spec, ctx, fr);
		out += v.kind == value::NUL ? "<null>" : to_text(v);
	}
	return out;
}

enum flow { NEXT, RET };

int run_call(const call &c, run_ctx &ctx, const frame *fr);
value eval(const expr &e, run_ctx &ctx, const frame *fr);
bool cond(const expr &e, run_ctx &ctx, const frame *fr);

// A call's result as the script sees it: $rc, and 0 ends the script.
int call_result(const call &c, run_ctx &ctx, const frame *fr)
{
	int r = run_call(c, ctx, fr);
	if (ctx.stop) return r;
	ctx.rc = r;
	if (r == 0) {
		ctx.stop = true;
		ctx.flags |= SCRIPT_EXIT_FLAG;
	}
	return r;
}

bool truthy(const value &v)
{
	if (v.kind == value::NUL) return false;
	if (v.kind == value::INT) return v.i != 0;
	return !v.s.empty();
}

// Whether the comparison `kind` holds for a three-way result c.
bool holds(expr::kind_t kind, int c)
{
	switch (kind) {
	case expr::EQ: return c == 0;
	case expr::NE: return c != 0;
	case expr::GT: return c > 0;
	case expr::LT: return c < 0;
	case expr::GE: return c >= 0;
	case expr::LE: return c <= 0;
	default: return false;
	}
}

bool compare(const expr &e, run_ctx &ctx, const frame *fr)
{
	value a = eval(*e.l, ctx, fr);
	if (ctx.stop) return false;
	if (e.kind == expr::RE || e.kind == expr::NRE) {
		if (a.kind == value::NUL) return e.kind == expr::NRE;
		std::string text = to_text(a);
		int m;
		if (e.re) {
			m = regexec(e.re, text.c_str(), 0, nullptr, 0) == 0;
		} else {
			value b = eval(*e.r, ctx, fr);
			regex_t re;
			if (regcomp_guarded(&re, to_text(b).c_str(), REG_EXTENDED | REG_NOSUB) != 0) {
				LM_ERR("bad regular expression '%s' (line %d)\n",
				       to_text(b).c_str(), e.line);
				return false;
			}
			m = regexec(&re, text.c_str(), 0, nullptr, 0) == 0;
			regfree(&re);
		}
		return e.kind == expr::RE ? m : !m;
	}
	// a string against a plain literal ($rU == "x"): compared in place
	const std::string *lit =
	    e.r->kind == expr::STR ? e.r->fmt.static_text() : nullptr;
	if (lit && a.kind == value::STR) return holds(e.kind, a.s.compare(*lit));
	value b = eval(*e.r, ctx, fr);
	if (ctx.stop) return false;
	if (a.kind == value::NUL || b.kind == value::NUL) {
		bool both = a.kind == b.kind;
		if (e.kind == expr::EQ) return both;
		if (e.kind == expr::NE) return !both;
		return false;
	}
	int c;
	long x, y;
	if ((a.kind == value::INT || b.kind == value::INT) && to_int(a, x) &&
	    to_int(b, y))
		c = x < y ? -1 : x > y ? 1 : 0;
	else if (a.kind == value::INT && b.kind == value::INT)
		c = a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
	else if (a.kind == value::STR && b.kind == value::STR)
		c = a.s.compare(b.s);
	else
		c = to_text(a).compare(to_text(b));
	return holds(e.kind, c);
}

value eval(const expr &e, run_ctx &ctx, const frame *fr)
{
	switch (e.kind) {
	case expr::STR:
		if (const std::string *t = e.fmt.static_text()) return value::of_str(*t);
		return value::of_str(e.fmt.dynamic() ? expand(e.fmt, ctx, fr)
		                                     : e.fmt.literal());
	case expr::INT: return value::of_int(e.i);
	case expr::NUL: return value::null();
	case expr::PVAR: return get_pv(*e.pv, ctx, fr);
	case expr::CALL: return value::of_int(call_result(*e.fn, ctx, fr));
	case expr::ADD:
	case expr::SUB: {
		value a = eval(*e.l, ctx, fr), b = eval(*e.r, ctx, fr);
		long x, y;
		if (a.kind == value::INT && b.kind == value::INT)
			return value::of_int(e.kind == expr::ADD ? a.i + b.i : a.i - b.i);
		if (e.kind == expr::SUB) {
			if (to_int(a, x) && to_int(b, y)) return value::of_int(x - y);
			return value::null();
		}
		if (a.kind == value::NUL && b.kind == value::NUL) return value::null();
		return value::of_str(to_text(a) + to_text(b));
	}
	default: return value::of_int(cond(e, ctx, fr) ? 1 : 0);
	}
}

bool cond(const expr &e, run_ctx &ctx, const frame *fr)
{
	switch (e.kind) {
	case expr::CALL: return call_result(*e.fn, ctx, fr) > 0;
	case expr::NOT: {
		bool v = cond(*e.l, ctx, fr);
		return ctx.stop ? false : !v;
	}
	case expr::AND: {
		if (!cond(*e.l, ctx, fr) || ctx.stop) return false;
		return cond(*e.r, ctx, fr);
	}
	case expr::OR: {
		if (cond(*e.l, ctx, fr)) return true;
		if (ctx.stop) return false;
		return cond(*e.r, ctx, fr);
	}
	case expr::EQ: case expr::NE: case expr::RE: case expr::NRE:
	case expr::GT: case expr::LT: case expr::GE: case expr::LE:
		return compare(e, ctx, fr);
	default: return truthy(eval(e, ctx, fr));
	}
}

flow exec(const std::vector<std::unique_ptr<stmt>> &body, run_ctx &ctx,
          const frame *fr);

flow exec_one(const stmt &s, run_ctx &ctx, const frame *fr)
{
	switch (s.kind) {
	case stmt::CALL: call_result(*s.e->fn, ctx, fr); return NEXT;
	case stmt::BLOCK: return exec(s.body, ctx, fr);
	case stmt::IF: {
		bool c = cond(*s.e, ctx, fr);
		if (ctx.stop) return NEXT;
		return exec(c ? s.body : s.other, ctx, fr);
	}
	case stmt::WHILE: {
		for (int n = 0;; n++) {
			if (n >= MAX_WHILE_LOOPS) {
				LM_ERR("while loop at line %d stopped after %d iterations\n",
				       s.line, MAX_WHILE_LOOPS);
				return NEXT;
			}
			bool c = cond(*s.e, ctx, fr);
			if (ctx.stop || !c) return NEXT;
			if (exec(s.body, ctx, fr) == RET || ctx.stop) return RET;
		}
	}
	case stmt::EXIT:
		ctx.stop = true;
		ctx.flags |= SCRIPT_EXIT_FLAG;
		return NEXT;
	case stmt::DROP:
		ctx.stop = true;
		ctx.flags |= SCRIPT_EXIT_FLAG | SCRIPT_DROP_FLAG;
		return NEXT;
	case stmt::RETURN: {
		long n = 1;
		if (s.e) {
			value v = eval(*s.e, ctx, fr);
			if (ctx.stop) return NEXT;
			if (!to_int(v, n)) n = -1;
		}
		ctx.rc = (int)n;
		return RET;
	}
	case stmt::ASSIGN: {
		value v = eval(*s.e, ctx, fr);
		if (ctx.stop) return NEXT;
		set_pv(*s.target, ctx, std::move(v));
		return NEXT;
	}
	}
	return NEXT;
}

flow exec(const std::vector<std::unique_ptr<stmt>> &body, run_ctx &ctx,
          const frame *fr)
{
	for (auto &s : body) {
		if (exec_one(*s, ctx, fr) == RET) return RET;
		if (ctx.stop) return NEXT;
	}
	return NEXT;
}

// Runs a route; its value is return(n)'s n, or 1 when it falls off the end.
int run_route(const route &r, run_ctx &ctx, const frame *fr,
              bool *returned = nullptr)
{
	if (ctx.depth >= MAX_ROUTE_DEPTH) {
		LM_ERR("route recursion too deep (%d) in route '%s'\n", ctx.depth,
		       r.name.c_str());
		return -1;
	}
	ctx.depth++;
	flow f = exec(r.body, ctx, fr);
	ctx.depth--;
	if (returned) *returned = f == RET;
	return f == RET ? ctx.rc : 1;
}

int run_module(const call &c, run_ctx &ctx, const frame *fr)
{
	void *p[MAX_CMD_PARAMS] = {nullptr};
	int ints[MAX_CMD_PARAMS];
	str strs[MAX_CMD_PARAMS];
	std::string texts[MAX_CMD_PARAMS];
	regex_t res[MAX_CMD_PARAMS];
	bool re_used[MAX_CMD_PARAMS] = {false};
	bool dyn_fixed[MAX_CMD_PARAMS] = {false};
	int ret = -1;
	for (int i = 0; i < c.nslots; i++) {
		const param_slot &s = c.slots[i];
		if (s.mode == param_slot::OMITTED || s.mode == param_slot::FIXED ||
		    s.mode == param_slot::VAR) {
			p[i] = s.fixed;
			continue;
		}
		value v = eval(*s.arg, ctx, fr);
		if (ctx.stop) goto out;
		if (v.kind == value::NUL) {
			LM_DBG("%s (line %d): argument %d is NULL\n", c.name.c_str(), c.line,
			       i + 1);
			goto out;
		}
		if (s.mode == param_slot::DYN_INT) {
			long n;
			if (!to_int(v, n)) {
				LM_DBG("%s (line %d): argument %d is not an integer\n",
				       c.name.c_str(), c.line, i + 1);
				goto out;
			}
			ints[i] = (int)n;
			p[i] = &ints[i];
		} else if (s.mode == param_slot::DYN_STR) {
			texts[i] = to_text(v);
			strs[i].s = texts[i].data();
			strs[i].len = (int)texts[i].size();
			p[i] = &strs[i];
		} else { // DYN_REGEX
			if (regcomp_guarded(&res[i], to_text(v).c_str(), REG_EXTENDED) != 0) {
				LM_ERR("%s (line %d): bad regular expression\n", c.name.c_str(),
				       c.line);
				goto out;
			}
			re_used[i] = true;
			p[i] = &res[i];
		}
		if (s.def->fixup) {
			if (s.def->fixup(&p[i]) < 0) {
				LM_ERR("%s (line %d): argument %d rejected\n", c.name.c_str(),
				       c.line, i + 1);
				goto out;
			}
			dyn_fixed[i] = true;
		}
	}
	{
		run_ctx *saved_ctx = t_ctx;
		const frame *saved_fr = t_frame;
		t_ctx = &ctx;
		t_frame = fr;
		ret = c.cmd->function(ctx.msg, p[0], p[1], p[2], p[3], p[4], p[5], p[6],
		                      p[7]);
		t_ctx = saved_ctx;
		t_frame = saved_fr;
	}
out:
	for (int i = 0; i < c.nslots; i++) {
		if (dyn_fixed[i] && c.slots[i].def->free_fixup)
			c.slots[i].def->free_fixup(&p[i]);
		if (re_used[i]) regfree(&res[i]);
	}
	return ret;
}

int run_call(const call &c, run_ctx &ctx, const frame *fr)
{
	switch (c.kind) {
	case call::XLOG: {
		int level = c.has_level ? c.level : shim::xlog_print_level;
		if (level > shim::xlog_level) return 1;
		const expr &a = *c.args.back();
		std::string text = a.kind == expr::STR
		                       ? (a.fmt.dynamic() ? expand(a.fmt, ctx, fr)
		                                          : a.fmt.literal())
		                       : to_text(eval(a, ctx, fr));
		// one line per call: the logger adds the line end
		while (!text.empty() && text.back() == '\n') text.pop_back();
		shim_log(level, nullptr, nullptr, "%s", text.c_str());
		return 1;
	}
	case call::ROUTE: {
		std::vector<value> args;
		for (auto &a : c.args) {
			args.push_back(eval(*a, ctx, fr));
			if (ctx.stop) return -1;
		}
		frame f;
		f.args = &args;
		const route &sub = *g_script->routes[c.route_idx];
		if (!ctx.prof) return run_route(sub, ctx, &f);
		// E_PROFILING_SCRIPT: enter/exit at the call, depth caller + 1
		unsigned int session = ctx.msg ? ctx.msg->id : 0;
		int type = g_script->routes[c.in_route]->route_types;
		int depth = ctx.depth + 1;
		prof_script_record(SHIM_PROF_VERB_ENTER, sub.name.c_str(), type, depth,
		                   g_script->file.c_str(), c.line, 0, session);
		int rc = run_route(sub, ctx, &f);
		prof_script_record(SHIM_PROF_VERB_EXIT, sub.name.c_str(), type, depth,
		                   g_script->file.c_str(), c.line, rc, session);
		return rc;
	}
	case call::MODULE: return run_module(c, ctx, fr);
	}
	return -1;
}

int run_top(int idx, sip_msg *msg, const frame *fr,
            std::map<std::string, std::vector<value>> *avps = nullptr)
{
	if (!g_script || idx < 0 || idx >= (int)g_script->routes.size()) return 0;
	run_ctx ctx;
	ctx.msg = msg;
	if (avps)
		ctx.avps.swap(*avps);
	run_ctx *saved = t_ctx;
	const frame *saved_fr = t_frame;
	t_ctx = &ctx;
	t_frame = fr;
	const route &r = *g_script->routes[idx];
	ctx.prof = prof_script_enabled();
	// E_PROFILING_SCRIPT (spec §4.3): start/enter/exit/end at depth 1,
	// `<root>` (NULL) for the main route and startup_route, file/line of
	// the first statement, status = the action flags at the end.
	const char *name = idx == g_script->main_route || idx == g_script->startup_route
	                       ? nullptr
	                       : r.name.c_str();
	int line = r.body.empty() ? r.line : r.body.front()->line;
	unsigned int session = msg ? msg->id : 0;
	if (ctx.prof) {
		prof_script_record(SHIM_PROF_VERB_START, name, r.route_types, 1, nullptr,
		                   0, 0, session);
		prof_script_record(SHIM_PROF_VERB_ENTER, name, r.route_types, 1,
		                   g_script->file.c_str(), line, 0, session);
	}
	bool returned = false;
	run_route(r, ctx, fr, &returned);
	int act = (ctx.flags & SCRIPT_EXIT_FLAG ? SHIM_ACT_FL_EXIT : 0) |
	          (returned && !ctx.stop ? SHIM_ACT_FL_RETURN : 0) |
	          (ctx.flags & SCRIPT_DROP_FLAG ? SHIM_ACT_FL_DROP : 0);
	t_last_act_flags = act;
	if (ctx.prof) {
		prof_script_record(SHIM_PROF_VERB_EXIT, name, r.route_types, 1,
		                   g_script->file.c_str(), line, act, session);
		prof_script_record(SHIM_PROF_VERB_END, name, r.route_types, 1, nullptr,
		                   0, act, session);
	}
	t_ctx = saved;
	t_frame = saved_fr;
	return ctx.flags;
}

std::string route_types_text(int t)
{
	static const std::pair<int, const char *> names[] = {
	    {REQUEST_ROUTE, "request route"}, {STARTUP_ROUTE, "startup_route"},
	    {TIMER_ROUTE, "timer_route"},     {EVENT_ROUTE, "event_route"}};
	std::string r;
	for (auto &n : names)
		if (t & n.first) r += (r.empty() ? "" : ", ") + std::string(n.second);
	return r;
}

} // namespace
} // namespace shim::cfg

namespace shim {

using namespace cfg;

int cfg_fixup(std::string &err)
{
	if (!g_script) return 0;
	script &s = *g_script;
	auto at = [&](int line) { return s.file + ":" + std::to_string(line) + ": "; };
	for (auto &r : s.routes) {
		switch (r->type) {
		case route::REQUEST: r->route_types = REQUEST_ROUTE; break;
		case route::STARTUP: r->route_types = STARTUP_ROUTE; break;
		case route::TIMER: r->route_types = TIMER_ROUTE; break;
		case route::EVENT: r->route_types = EVENT_ROUTE; break;
		case route::SUB: r->route_types = 0; break;
		}
	}
	// a sub-route takes the union of its callers' types
	for (bool changed = true; changed;) {
		changed = false;
		for (auto *c : s.calls) {
			if (c->kind != call::ROUTE || c->in_route < 0) continue;
			int from = s.routes[c->in_route]->route_types;
			int &to = s.routes[c->route_idx]->route_types;
			if ((to | from) != to) {
				to |= from;
				changed = true;
			}
		}
	}
	for (auto &r : s.routes)
		if (!r->route_types) r->route_types = REQUEST_ROUTE;
	// Event names the script uses, published now (after every module's
	// init, before E_CORE_LOG: decisions.md §3): event_route blocks first,
	// each auto-subscribed as route:NAME (never expires), then the literal
	// names of raise_event / subscribe_event.
	if (!s.fixed_up) {
		for (int i : s.event_routes) {
			const route &r = *s.routes[i];
			if (evi_publish_script_name(r.name) == EVI_ERROR) {
				err = at(r.line) + "bad event name '" + r.name + "' in event_route";
				return -1;
			}
			std::string sock = "route:" + r.name;
			str ev{const_cast<char *>(r.name.data()), (int)r.name.size()};
			str so{sock.data(), (int)sock.size()};
			if (evi_subscribe(ev, so, 0, false) < 0) {
				err = at(r.line) + "cannot subscribe event_route[" + r.name + "]";
				return -1;
			}
		}
		for (auto *c : s.calls) {
			if (c->kind != call::MODULE || c->owner || c->nslots < 1 ||
			    c->slots[0].mode != param_slot::FIXED)
				continue;
			if (c->name != "raise_event" && c->name != "subscribe_event") continue;
			if (evi_publish_script_name(c->slots[0].fixed_text) == EVI_ERROR) {
				err = at(c->line) + "bad event name '" + c->slots[0].fixed_text +
				      "' in " + c->name;
				return -1;
			}
		}
	}
	for (auto *c : s.calls) {
		if (c->kind != call::MODULE) continue;
		int types = s.routes[c->in_route]->route_types;
		if (types & ~c->cmd->flags) {
			err = at(c->line) + "function '" + c->name + "' cannot be used in " +
			      route_types_text(types & ~c->cmd->flags);
			return -1;
		}
		if (s.fixed_up) continue;
		for (int i = 0; i < c->nslots; i++) {
			param_slot &p = c->slots[i];
			if (!p.def->fixup) continue;
			bool run = p.mode == param_slot::FIXED || p.mode == param_slot::VAR ||
			           (p.mode == param_slot::OMITTED &&
			            (p.def->flags & CMD_PARAM_FIX_NULL));
			if (!run) continue;
			if (p.def->fixup(&p.fixed) < 0) {
				err = at(c->line) + "argument " + std::to_string(i + 1) + " of '" +
				      c->name + "' was rejected" +
				      (p.arg && p.arg->kind == expr::STR
				           ? ": \"" + p.arg->raw + "\""
				           : std::string());
				return -1;
			}
		}
	}
	s.fixed_up = true;
	return 0;
}

void cfg_reset()
{
	if (!g_script) return;
	// g_script->calls may hold pointers into a tree a failed parse dropped:
	// only the owners (routes -> stmts -> exprs -> calls) are walked
	delete g_script;
	g_script = nullptr;
	t_vars.clear();
}

int script_run_request(sip_msg *msg)
{
	return g_script ? run_top(g_script->main_route, msg, nullptr) : 0;
}

int script_last_action_flags() { return cfg::t_last_act_flags; }

int script_run_startup()
{
	return g_script ? run_top(g_script->startup_route, nullptr, nullptr) : 0;
}

const std::vector<timer_route_info> &script_timer_routes()
{
	static std::vector<timer_route_info> empty;
	static std::vector<timer_route_info> list;
	if (!g_script) return empty;
	list.clear();
	for (int i : g_script->timer_routes)
		list.push_back({g_script->routes[i]->name, g_script->routes[i]->interval});
	return list;
}

int script_run_timer(size_t index)
{
	if (!g_script || index >= g_script->timer_routes.size()) return 0;
	return run_top(g_script->timer_routes[index], nullptr, nullptr);
}

int script_find_event_route(const std::string &name)
{
	if (!g_script) return -1;
	for (size_t i = 0; i < g_script->event_routes.size(); i++)
		if (g_script->routes[g_script->event_routes[i]]->name == name)
			return (int)i;
	return -1;
}

std::vector<std::string> script_event_route_names()
{
	std::vector<std::string> r;
	if (g_script)
		for (int i : g_script->event_routes)
			r.push_back(g_script->routes[i]->name);
	return r;
}

int script_run_event_route(int idx, const std::vector<script_param> &params)
{
	if (!g_script || idx < 0 || idx >= (int)g_script->event_routes.size())
		return 0;
	std::vector<std::pair<std::string, value>> named;
	for (auto &p : params)
		named.emplace_back(p.name, p.is_int ? value::of_int(p.i)
		                                    : value::of_str(p.s));
	frame f;
	f.named = &named;
	return run_top(g_script->event_routes[idx], nullptr, &f);
}

int script_pv_values(pv_spec_t *spec, std::vector<script_param> &out)
{
	out.clear();
	run_ctx *ctx = t_ctx;
	if (!ctx || !spec) return 0;
	auto push = [&](const value &v) {
		if (v.kind == value::NUL) return;
		script_param p;
		p.is_int = v.kind == value::INT;
		p.i = v.i;
		p.s = to_text(v);
		out.push_back(std::move(p));
	};
	if (spec->kind == pv_spec::AVP) {
		auto it = ctx->avps.find(spec->name);
		if (it != ctx->avps.end())
			for (auto v = it->second.rbegin(); v != it->second.rend(); ++v) push(*v);
	} else {
		push(get_pv(*spec, *ctx, t_frame));
	}
	return (int)out.size();
}

} // namespace shim

// ---- pseudo-variable API for modules (pvar.h) ----
// Values handed out are copies kept in the current run's scratch list, so
// they stay valid until the run ends whatever the script does next.

namespace {

shim::cfg::run_ctx *pv_ctx(pv_spec_t *spec)
{
	return spec ? shim::cfg::t_ctx : nullptr;
}

} // namespace

extern "C" {

int pv_get_strval(struct sip_msg *, pv_spec_t *spec, str *out)
{
	using namespace shim::cfg;
	run_ctx *ctx = pv_ctx(spec);
	if (!ctx || !out) return -1;
	value v = get_pv(*spec, *ctx, t_frame);
	if (v.kind == value::NUL) return -1;
	ctx->scratch.push_back(to_text(v));
	out->s = ctx->scratch.back().data();
	out->len = (int)ctx->scratch.back().size();
	return 0;
}

int pv_get_intval(struct sip_msg *, pv_spec_t *spec, int *out)
{
	using namespace shim::cfg;
	run_ctx *ctx = pv_ctx(spec);
	if (!ctx || !out) return -1;
	long n;
	if (!to_int(get_pv(*spec, *ctx, t_frame), n)) return -1;
	*out = (int)n;
	return 0;
}

int pv_get_strvals(struct sip_msg *msg, pv_spec_t *spec, str *out, int max)
{
	using namespace shim::cfg;
	run_ctx *ctx = pv_ctx(spec);
	if (!ctx || !out || max <= 0) return 0;
	if (spec->kind != pv_spec::AVP)
		return pv_get_strval(msg, spec, out) == 0 ? 1 : 0;
	auto it = ctx->avps.find(spec->name);
	if (it == ctx->avps.end()) return 0;
	int n = 0;
	for (auto v = it->second.rbegin(); v != it->second.rend() && n < max; ++v) {
		ctx->scratch.push_back(to_text(*v));
		out[n].s = ctx->scratch.back().data();
		out[n].len = (int)ctx->scratch.back().size();
		n++;
	}
	return n;
}

int pv_set_strval(struct sip_msg *, pv_spec_t *spec, const str *val)
{
	using namespace shim::cfg;
	run_ctx *ctx = pv_ctx(spec);
	if (!ctx) return -1;
	return set_pv(*spec, *ctx,
	              val && val->s ? value::of_str(std::string(val->s, val->len))
	                            : value::null());
}

int pv_set_intval(struct sip_msg *, pv_spec_t *spec, int val)
{
	using namespace shim::cfg;
	run_ctx *ctx = pv_ctx(spec);
	if (!ctx) return -1;
	return set_pv(*spec, *ctx, value::of_int(val));
}

} // extern "C"

extern "C" int shim_script_route_find(const char *name)
{
	using namespace shim;
	if (!g_script || !name)
		return -1;
	for (size_t i = 0; i < g_script->routes.size(); i++)
		if (g_script->routes[i]->type == route::SUB && g_script->routes[i]->name == name)
			return (int)i;
	return -1;
}

extern "C" int shim_script_route_run(int idx)
{
	using namespace shim;
	if (!g_script || idx < 0 || idx >= (int)g_script->routes.size())
		return -1;
	run_top(idx, nullptr, nullptr);
	return 0;
}

extern "C" int shim_script_route_run_avps(int idx, int n, const char *const *names,
                                          const str *values, const int *ints)
{
	using namespace shim;
	using shim::cfg::value;
	if (!g_script || idx < 0 || idx >= (int)g_script->routes.size() || n < 0 ||
	    (n > 0 && (!names || !values)))
		return -1;
	std::map<std::string, std::vector<value>> avps;
	for (int i = 0; i < n; i++) {
		if (!names[i])
			return -1;
		if (values[i].s)
			avps[names[i]].push_back(value::of_str(std::string(values[i].s, (size_t)values[i].len)));
		else if (ints)
			avps[names[i]].push_back(value::of_int(ints[i]));
		else
			return -1;
	}
	run_top(idx, nullptr, nullptr, &avps);
	return 0;
}

namespace shim {
namespace {
// The script engine's entry points for the layers below cfg/
// (api/script-t.h), installed before main() runs.
const bool g_runner_installed = [] {
	g_script_runner = script_runner{
	    script_run_request,      script_last_action_flags, script_timer_routes,
	    script_run_timer,        script_find_event_route,  script_event_route_names,
	    script_run_event_route,  script_pv_values,
	};
	return true;
}();
} // namespace
} // namespace shim
