// cfg parser: globals, loadmodule/modparam (run as they appear) and the
// route tree (spec §7, decisions.md §16-17). Main thread only.
#include <strings.h>


#include "util/regex_guard.h"
#include "util/text.h"
#include "cfg/ast.h"
#include "cfg/global_params.h"
#include "settings/globals.h"
#include "cfg/lexer.h"
#include "cfg/script.h"
#include "evi/evi_core.h"
#include "opensips/dprint.h"

namespace shim::cfg {

script *g_script = nullptr;

expr::~expr()
{
	if (re) {
		regfree(re);
		delete re;
	}
}

call::~call()
{
	for (auto &s : slots)
		if (s.fixed_re) {
			regfree(s.fixed_re);
			delete s.fixed_re;
		}
}

std::unique_ptr<pv_spec> parse_pvar(const std::string &text, size_t &pos,
                                    std::string &err)
{
	err.clear();
	size_t i = pos;
	if (i >= text.size() || text[i] != '$') return nullptr;
	i++;
	size_t ns = i;
	while (i < text.size() && (isalnum((unsigned char)text[i]) || text[i] == '_'))
		i++;
	std::string name = text.substr(ns, i - ns);
	if (name.empty()) return nullptr;
	std::string arg;
	bool has_arg = false;
	if (i < text.size() && text[i] == '(') {
		size_t close = text.find(')', i);
		if (close == std::string::npos) {
			err = "unterminated variable $" + name + "(";
			return nullptr;
		}
		arg = text.substr(i + 1, close - i - 1);
		while (!arg.empty() && isspace((unsigned char)arg.front())) arg.erase(0, 1);
		while (!arg.empty() && isspace((unsigned char)arg.back())) arg.pop_back();
		if (arg.size() >= 2 && (arg[0] == '"' || arg[0] == '\'') &&
		    arg.back() == arg[0])
			arg = arg.substr(1, arg.size() - 2);
		has_arg = true;
		i = close + 1;
	}
	struct entry {
		const char *n;
		pv_spec::kind_t k;
		bool needs_arg;
	};
	static const entry tab[] = {
	    {"rc", pv_spec::RC, false},       {"retcode", pv_spec::RC, false},
	    {"var", pv_spec::VAR, true},      {"avp", pv_spec::AVP, true},
	    {"param", pv_spec::PARAM, true},  {"rm", pv_spec::RM, false},
	    {"ru", pv_spec::RU, false},       {"rU", pv_spec::RU_USER, false},
	    {"si", pv_spec::SI, false},       {"sp", pv_spec::SP, false},
	    {"ci", pv_spec::CI, false},       {"fu", pv_spec::FU, false},
	    {"tu", pv_spec::TU, false},       {"log_level", pv_spec::LOG_LEVEL, false},
	};
	for (auto &e : tab) {
		if (name != e.n) continue;
		if (e.needs_arg != has_arg || (has_arg && arg.empty())) {
			err = e.needs_arg ? "variable $" + name + " needs a name: $" + name +
			                        "(name)"
			                  : "variable $" + name + " takes no argument";
			return nullptr;
		}
		auto spec = std::make_unique<pv_spec>();
		spec->kind = e.k;
		spec->name = arg;
		if (e.k == pv_spec::PARAM) {
			long n;
			if (parse_number(arg, n)) {
				if (n < 1) {
					err = "$param() indexes start at 1";
					return nullptr;
				}
				spec->index = (int)n;
			}
		}
		pos = i;
		return spec;
	}
	err = "unknown variable $" + name;
	return nullptr;
}

int parse_format(const std::string &text, format &out, std::string &err)
{
	std::string lit;
	size_t i = 0;
	auto flush = [&] {
		if (lit.empty()) return;
		format::part p;
		p.text = lit;
		out.parts.push_back(std::move(p));
		lit.clear();
	};
	while (i < text.size()) {
		if (text[i] != '$') { lit += text[i++]; continue; }
		if (i + 1 < text.size() && text[i + 1] == '$') {
			lit += '$';
			i += 2;
			continue;
		}
		if (i + 1 >= text.size() ||
		    !(isalpha((unsigned char)text[i + 1]) || text[i + 1] == '_')) {
			lit += text[i++];
			continue;
		}
		auto spec = parse_pvar(text, i, err);
		if (!spec) return -1;
		flush();
		format::part p;
		p.spec = std::move(spec);
		out.parts.push_back(std::move(p));
	}
	flush();
	return 0;
}

namespace {

struct cfg_error {
	std::string msg;
};

class parser {
public:
	parser(std::vector<token> &t, const std::string &file, script &s)
	    : toks_(t), file_(file), s_(s) {}

	void run()
	{
		while (peek().kind != token::END) top();
		core_set();
		resolve_routes();
	}

private:
	std::vector<token> &toks_;
	std::string file_;
	script &s_;
	size_t pos_ = 0;
	bool core_done_ = false;
	int cur_route_ = -1;

	[[noreturn]] void fail(int line, const std::string &m)
	{
		throw cfg_error{file_ + ":" + std::to_string(line) + ": " + m};
	}
	const token &peek(size_t k = 0) const
	{
		size_t i = pos_ + k;
		return i < toks_.size() ? toks_[i] : toks_.back();
	}
	const token &next()
	{
		const token &t = peek();
		if (pos_ < toks_.size() - 1) pos_++;
		return t;
	}
	bool is(const char *punct, size_t k = 0) const
	{
		return peek(k).kind == token::PUNCT && peek(k).text == punct;
	}
	bool is_word(const char *w, size_t k = 0) const
	{
		return peek(k).kind == token::IDENT && peek(k).text == w;
	}
	static std::string describe(const token &t)
	{
		if (t.kind == token::END) return "end of file";
		if (t.kind == token::STRING) return "string \"" + t.text + "\"";
		return "'" + t.text + "'";
	}
	void expect(const char *punct, const char *ctx)
	{
		if (!is(punct))
			fail(peek().kind == token::END ? toks_[pos_ ? pos_ - 1 : 0].line
			                               : peek().line,
			     std::string("expected '") + punct + "' " + ctx + ", found " +
			         describe(peek()));
		next();
	}

	void core_set()
	{
		if (core_done_) return;
		core_done_ = true;
		if (!g_globals.auto_load_core_modules) return;
		std::string err;
		if (module_load_core_set(err) < 0) fail(peek().line, err);
	}

	static bool route_keyword(const std::string &w)
	{
		return w == "route" || w == "startup_route" || w == "timer_route" ||
		       w == "event_route" || w == "failure_route" ||
		       w == "onreply_route" || w == "branch_route" ||
		       w == "local_route" || w == "error_route";
	}

	// Where a global's value ends: a new line starting a new top-level item.
	bool starts_item(size_t k) const
	{
		const token &t = peek(k);
		if (t.kind == token::END) return true;
		if (!t.bol) return false;
		// only a word continues a value on the next line
		// (auto_scaling_profile's "scale down ..." lines)
		if (t.kind != token::IDENT) return true;
		if (t.text == "loadmodule" || t.text == "modparam" ||
		    route_keyword(t.text))
			return true;
		return peek(k + 1).kind == token::PUNCT && peek(k + 1).text == "=";
	}

	void top()
	{
		const token &t = peek();
		if (t.kind != token::IDENT)
			fail(t.line, "unexpected " + describe(t) + " at top level");
		if (t.text == "loadmodule") {
			int line = next().line;
			core_set();
			if (peek().kind != token::STRING)
				fail(line, "loadmodule expects a quoted module name");
			std::string name = next().text, err;
			if (module_load(name, file_, line, err) < 0) throw cfg_error{err};
			if (is(";")) next();
			return;
		}
		if (t.text == "modparam") {
			modparam();
			return;
		}
		if (route_keyword(t.text)) {
			core_set();
			route_block();
			return;
		}
		if (is("=", 1)) {
			global();
			return;
		}
		fail(t.line, "unexpected " + describe(t) + " at top level");
	}

	void global()
	{
		const token &name = next();
		next(); // '='
		std::vector<token> val;
		size_t k = 0;
		while (!starts_item(k) && !(peek(k).kind == token::PUNCT && peek(k).text == ";"))
			val.push_back(peek(k++));
		if (val.empty() && !(peek().kind == token::END) && !peek().bol &&
		    !is(";"))
			val.push_back(peek(k++));
		std::string raw;
		if (!val.empty()) {
			// the raw text, comments dropped: join the tokens' source spans
			for (size_t i = 0; i < val.size(); i++) {
				if (i && val[i].begin > val[i - 1].end &&
				    !(val[i].kind == token::PUNCT && val[i].text == ":") &&
				    !(val[i - 1].kind == token::PUNCT && val[i - 1].text == ":"))
					raw += ' ';
				raw += val[i].kind == token::STRING ? val[i].text : val[i].text;
			}
		}
		pos_ += k;
		if (is(";")) next();
		std::string msg;
		if (global_set(name.text, val, raw, msg) < 0) fail(name.line, msg);
	}

	void modparam()
	{
		int line = next().line;
		core_set();
		expect("(", "after modparam");
		if (peek().kind != token::STRING)
			fail(line, "modparam expects a quoted module name");
		std::string mod = next().text;
		expect(",", "in modparam");
		if (peek().kind != token::STRING)
			fail(line, "modparam expects a quoted parameter name");
		std::string param = next().text;
		expect(",", "in modparam");
		bool is_str = false;
		std::string sval;
		long ival = 0;
		const token &v = peek();
		if (v.kind == token::STRING) {
			is_str = true;
			sval = next().text;
		} else if (v.kind == token::NUMBER) {
			ival = next().num;
		} else if (is("-") && peek(1).kind == token::NUMBER) {
			next();
			ival = -next().num;
		} else if (v.kind == token::IDENT) {
			static const char *t[] = {"yes", "true", "on", "enable"};
			static const char *f[] = {"no", "false", "off", "disable"};
			bool ok = false;
			for (auto *w : t)
				if (!strcasecmp(v.text.c_str(), w)) { ival = 1; ok = true; }
			for (auto *w : f)
				if (!strcasecmp(v.text.c_str(), w)) { ival = 0; ok = true; }
			if (!ok)
				fail(line, "modparam value must be a quoted string or a number, "
				           "found '" + v.text + "'");
			next();
		} else {
			fail(line, "modparam value must be a quoted string or a number");
		}
		expect(")", "to close modparam");
		if (is(";")) next();
		std::string err;
		if (module_set_param(mod, param, is_str, sval, ival, file_, line, err) < 0)
			throw cfg_error{err};
	}

	std::string route_name(const char *kw)
	{
		const token &t = peek();
		if (t.kind == token::IDENT || t.kind == token::NUMBER ||
		    t.kind == token::STRING) {
			next();
			return t.text;
		}
		fail(t.line, std::string("expected a name in ") + kw + "[...]");
	}

	void route_block()
	{
		const token kw = next();
		auto r = std::make_unique<route>();
		r->line = kw.line;
		const std::string &w = kw.text;
		if (w == "failure_route" || w == "onreply_route" ||
		    w == "branch_route" || w == "local_route")
			fail(kw.line, "'" + w + "' is not supported: this host has no "
			              "transactions");
		bool keep = true;
		if (w == "route") {
			r->type = route::REQUEST;
			if (is("[")) {
				next();
				r->name = route_name("route");
				expect("]", "after the route name");
				if (r->name != "0") r->type = route::SUB;
			}
		} else if (w == "startup_route") {
			r->type = route::STARTUP;
		} else if (w == "timer_route") {
			r->type = route::TIMER;
			expect("[", "after timer_route");
			r->name = route_name("timer_route");
			expect(",", "in timer_route[NAME, SECONDS]");
			if (peek().kind != token::NUMBER || peek().num <= 0)
				fail(peek().line, "timer_route interval must be a positive number");
			r->interval = (unsigned)next().num;
			expect("]", "after the timer_route interval");
		} else if (w == "event_route") {
			r->type = route::EVENT;
			expect("[", "after event_route");
			r->name = route_name("event_route");
			if (is(",")) { // sync/async mode
				next();
				if (peek().kind != token::IDENT)
					fail(peek().line, "expected sync or async in event_route");
				next();
			}
			expect("]", "after the event_route name");
		} else { // error_route
			LM_WARN("%s:%d: error_route is not supported; its block is ignored\n",
			        file_.c_str(), kw.line);
			keep = false;
			if (is("[")) {
				next();
				route_name("error_route");
				expect("]", "after the route name");
			}
		}
		for (auto &o : s_.routes) {
			bool dup = false;
			if (r->type == route::REQUEST && o->type == route::REQUEST) dup = true;
			if (r->type == route::STARTUP && o->type == route::STARTUP) dup = true;
			if (r->type != route::REQUEST && r->type != route::STARTUP &&
			    o->type == r->type && o->name == r->name)
				dup = true;
			if (dup && keep)
				fail(kw.line, "route '" + (r->name.empty() ? w : w + "[" + r->name + "]") +
				                  "' is already defined at line " +
				                  std::to_string(o->line));
		}
		int idx = (int)s_.routes.size();
		cur_route_ = keep ? idx : -2;
		std::vector<std::unique_ptr<stmt>> body;
		block(body);
		if (!keep) return;
		r->body = std::move(body);
		switch (r->type) {
		case route::REQUEST: s_.main_route = idx; break;
		case route::STARTUP: s_.startup_route = idx; break;
		case route::TIMER: s_.timer_routes.push_back(idx); break;
		case route::EVENT: s_.event_routes.push_back(idx); break;
		default: break;
		}
		s_.routes.push_back(std::move(r));
	}

	void block(std::vector<std::unique_ptr<stmt>> &out)
	{
		int open = peek().line;
		expect("{", "to open a block");
		while (!is("}")) {
			if (peek().kind == token::END)
				fail(open, "unterminated block: '{' opened here has no '}'");
			auto st = statement();
			if (st) out.push_back(std::move(st));
		}
		next();
	}

	void end_simple(int line)
	{
		if (is(";")) { next(); return; }
		if (is("}")) return; // tolerate a missing ';' before '}'
		fail(line, "expected ';' after the statement, found " + describe(peek()));
	}

	std::unique_ptr<stmt> statement()
	{
		const token &t = peek();
		auto st = std::make_unique<stmt>();
		st->line = t.line;
		if (is(";")) { next(); return nullptr; }
		if (is("{")) {
			st->kind = stmt::BLOCK;
			block(st->body);
			return st;
		}
		if (t.kind == token::PVAR) {
			size_t p = 0;
			std::string err;
			auto spec = parse_pvar(t.text, p, err);
			if (!spec) fail(t.line, err.empty() ? "bad variable " + t.text : err);
			next();
			if (!is("=")) fail(t.line, "expected '=' after " + t.text);
			next();
			if (spec->kind != pv_spec::VAR && spec->kind != pv_spec::AVP)
				fail(t.line, "cannot assign to read-only variable " + t.text);
			st->kind = stmt::ASSIGN;
			st->target = std::move(spec);
			st->e = or_expr(false);
			end_simple(t.line);
			return st;
		}
		if (t.kind != token::IDENT)
			fail(t.line, "unexpected " + describe(t));
		if (t.text == "if") {
			next();
			st->kind = stmt::IF;
			expect("(", "after if");
			st->e = or_expr(false);
			expect(")", "to close the if condition");
			body_or_block(st->body);
			if (is_word("else")) {
				next();
				if (is_word("if")) st->other.push_back(statement());
				else body_or_block(st->other);
			}
			return st;
		}
		if (t.text == "while") {
			next();
			st->kind = stmt::WHILE;
			expect("(", "after while");
			st->e = or_expr(false);
			expect(")", "to close the while condition");
			body_or_block(st->body);
			return st;
		}
		if (t.text == "exit" || t.text == "drop") {
			next();
			st->kind = t.text == "exit" ? stmt::EXIT : stmt::DROP;
			if (is("(") && is(")", 1)) { next(); next(); }
			end_simple(t.line);
			return st;
		}
		if (t.text == "return") {
			next();
			st->kind = stmt::RETURN;
			if (is("(")) {
				next();
				if (!is(")")) st->e = or_expr(false);
				while (is(",")) { // extra return values: not kept
					next();
					or_expr(true);
				}
				expect(")", "to close return(...)");
			}
			end_simple(t.line);
			return st;
		}
		st->kind = stmt::CALL;
		st->e = primary(false);
		if (st->e->kind != expr::CALL)
			fail(t.line, "unexpected " + describe(t));
		end_simple(t.line);
		return st;
	}

	void body_or_block(std::vector<std::unique_ptr<stmt>> &out)
	{
		if (is("{")) { block(out); return; }
		auto s = statement();
		if (s) out.push_back(std::move(s));
	}

	std::unique_ptr<expr> mk(expr::kind_t k, int line)
	{
		auto e = std::make_unique<expr>();
		e->kind = k;
		e->line = line;
		return e;
	}

	std::unique_ptr<expr> or_expr(bool arg)
	{
		auto l = and_expr(arg);
		while (is("||")) {
			auto e = mk(expr::OR, next().line);
			e->l = std::move(l);
			e->r = and_expr(arg);
			l = std::move(e);
		}
		return l;
	}
	std::unique_ptr<expr> and_expr(bool arg)
	{
		auto l = unary(arg);
		while (is("&&")) {
			auto e = mk(expr::AND, next().line);
			e->l = std::move(l);
			e->r = unary(arg);
			l = std::move(e);
		}
		return l;
	}
	std::unique_ptr<expr> unary(bool arg)
	{
		if (is("!")) {
			auto e = mk(expr::NOT, next().line);
			e->l = unary(arg);
			return e;
		}
		return cmp(arg);
	}
	std::unique_ptr<expr> cmp(bool arg)
	{
		auto l = add(arg);
		static const std::pair<const char *, expr::kind_t> ops[] = {
		    {"==", expr::EQ}, {"!=", expr::NE}, {"=~", expr::RE},
		    {"!~", expr::NRE}, {">=", expr::GE}, {"<=", expr::LE},
		    {">", expr::GT},  {"<", expr::LT}};
		for (auto &o : ops) {
			if (!is(o.first)) continue;
			auto e = mk(o.second, next().line);
			e->l = std::move(l);
			e->r = add(arg);
			if ((o.second == expr::RE || o.second == expr::NRE) &&
			    e->r->kind == expr::STR && !e->r->fmt.dynamic()) {
				e->re = new regex_t;
				if (regcomp_guarded(e->re, e->r->fmt.literal().c_str(),
				            REG_EXTENDED | REG_NOSUB) != 0) {
					delete e->re;
					e->re = nullptr;
					fail(e->line, "bad regular expression '" + e->r->raw + "'");
				}
			}
			return e;
		}
		return l;
	}
	std::unique_ptr<expr> add(bool arg)
	{
		auto l = primary(arg);
		while (is("+") || is("-")) {
			expr::kind_t k = is("+") ? expr::ADD : expr::SUB;
			auto e = mk(k, next().line);
			e->l = std::move(l);
			e->r = primary(arg);
			l = std::move(e);
		}
		return l;
	}

	std::unique_ptr<expr> primary(bool arg)
	{
		const token &t = peek();
		if (is("(")) {
			next();
			auto e = or_expr(arg);
			expect(")", "to close '('");
			return e;
		}
		if (t.kind == token::STRING) {
			next();
			auto e = mk(expr::STR, t.line);
			e->raw = t.text;
			std::string err;
			if (parse_format(t.text, e->fmt, err) < 0) fail(t.line, err);
			return e;
		}
		if (t.kind == token::NUMBER) {
			next();
			auto e = mk(expr::INT, t.line);
			e->i = t.num;
			return e;
		}
		if (is("-") && peek(1).kind == token::NUMBER) {
			next();
			auto e = mk(expr::INT, t.line);
			e->i = -next().num;
			return e;
		}
		if (t.kind == token::PVAR) {
			next();
			auto e = mk(expr::PVAR, t.line);
			size_t p = 0;
			std::string err;
			e->pv = parse_pvar(t.text, p, err);
			if (!e->pv || p != t.text.size())
				fail(t.line, err.empty() ? "bad variable " + t.text : err);
			return e;
		}
		if (t.kind == token::IDENT) {
			if (t.text == "NULL" || t.text == "null") {
				next();
				return mk(expr::NUL, t.line);
			}
			if (is("(", 1) || (!arg && (is(";", 1) || is(")", 1)) &&
			                       !is("=", 1)))
				return call_expr();
			if (arg) { // a bare word argument: L_ERR, sync, ...
				next();
				auto e = mk(expr::STR, t.line);
				e->raw = t.text;
				format::part p;
				p.text = t.text;
				e->fmt.parts.push_back(std::move(p));
				return e;
			}
		}
		fail(t.kind == token::END && pos_ ? toks_[pos_ - 1].line : t.line,
		     "unexpected " + describe(t) + " in expression");
	}

	std::unique_ptr<expr> call_expr()
	{
		const token &name = next();
		auto c = std::make_unique<call>();
		c->name = name.text;
		c->line = name.line;
		c->in_route = cur_route_;
		if (is("(")) {
			next();
			if (name.text == "route") {
				c->kind = call::ROUTE;
				c->route_name = route_name("route(...)");
				while (is(",")) {
					next();
					c->args.push_back(or_expr(true));
				}
			} else if (!is(")")) {
				for (;;) {
					if (is(",") || is(")")) c->args.push_back(nullptr);
					else c->args.push_back(or_expr(true));
					if (is(",")) { next(); continue; }
					break;
				}
			}
			expect(")", ("to close the arguments of " + name.text).c_str());
		} else if (name.text == "route") {
			fail(name.line, "route needs a name: route(NAME)");
		}
		if (c->kind != call::ROUTE) resolve_call(*c);
		auto e = mk(expr::CALL, name.line);
		if (cur_route_ >= 0) s_.calls.push_back(c.get());
		e->fn = std::move(c);
		return e;
	}

	void resolve_call(call &c)
	{
		if (c.name == "xlog") {
			c.kind = call::XLOG;
			if (c.args.empty() || c.args.size() > 2)
				fail(c.line, "xlog takes ([level,] \"format\")");
			for (auto &a : c.args)
				if (!a) fail(c.line, "xlog: empty argument");
			if (c.args.size() == 2) {
				auto &l = c.args[0];
				static const std::pair<const char *, int> lv[] = {
				    {"L_ALERT", L_ALERT}, {"L_CRIT", L_CRIT}, {"L_ERR", L_ERR},
				    {"L_WARN", L_WARN},   {"L_NOTICE", L_NOTICE},
				    {"L_INFO", L_INFO},   {"L_DBG", L_DBG}};
				bool ok = false;
				if (l->kind == expr::STR && !l->fmt.dynamic())
					for (auto &p : lv)
						if (l->fmt.literal() == p.first) {
							c.level = p.second;
							ok = true;
						}
				if (l->kind == expr::INT && l->i >= L_ALERT && l->i <= L_DBG) {
					c.level = (int)l->i;
					ok = true;
				}
				if (!ok) fail(c.line, "xlog: unknown log level (L_ALERT .. L_DBG)");
				c.has_level = true;
			}
			return;
		}
		// host core functions (raise_event, subscribe_event) come first
		c.cmd = evi_find_script_cmd(c.name);
		if (!c.cmd) c.cmd = module_find_cmd(c.name, &c.owner);
		if (!c.cmd) fail(c.line, "unknown function '" + c.name + "'");
		int n = 0;
		while (n < MAX_CMD_PARAMS && c.cmd->params[n].flags) n++;
		c.nslots = n;
		if ((int)c.args.size() > n)
			fail(c.line, "function '" + c.name + "' takes at most " +
			                 std::to_string(n) + " argument" + (n == 1 ? "" : "s") +
			                 ", " + std::to_string(c.args.size()) + " given");
		for (int i = 0; i < n; i++) {
			param_slot &s = c.slots[i];
			s.def = &c.cmd->params[i];
			int f = s.def->flags;
			expr *a = i < (int)c.args.size() ? c.args[i].get() : nullptr;
			s.arg = a;
			std::string argn = "argument " + std::to_string(i + 1) + " of '" +
			                   c.name + "'";
			if (!a) {
				if (!(f & CMD_PARAM_OPT)) fail(c.line, argn + " is mandatory");
				s.mode = param_slot::OMITTED;
				continue;
			}
			bool literal = a->kind == expr::INT ||
			               (a->kind == expr::STR &&
			                ((f & CMD_PARAM_NO_EXPAND) || !a->fmt.dynamic()));
			if ((f & CMD_PARAM_STATIC) && !literal)
				fail(c.line, argn + " must be a constant");
			if (f & CMD_PARAM_VAR) {
				if (a->kind != expr::PVAR)
					fail(c.line, argn + " must be a variable");
				s.mode = param_slot::VAR;
				s.fixed = a->pv.get();
			} else if ((f & CMD_PARAM_INT) &&
			           (a->kind == expr::INT || !(f & CMD_PARAM_STR))) {
				if (a->kind == expr::INT) {
					s.mode = param_slot::FIXED;
					s.fixed_int = (int)a->i;
					s.fixed = &s.fixed_int;
				} else if (a->kind == expr::STR && literal) {
					long v;
					std::string lit = a->fmt.literal();
					bool neg = !lit.empty() && lit[0] == '-';
					if (!parse_number(neg ? lit.substr(1) : lit, v))
						fail(c.line, argn + " must be an integer");
					s.mode = param_slot::FIXED;
					s.fixed_int = (int)(neg ? -v : v);
					s.fixed = &s.fixed_int;
				} else {
					s.mode = param_slot::DYN_INT;
				}
			} else if (f & CMD_PARAM_STR) {
				if (literal) {
					s.mode = param_slot::FIXED;
					s.fixed_text = a->kind == expr::INT
					                   ? std::to_string(a->i)
					                   : ((f & CMD_PARAM_NO_EXPAND) ? a->raw
					                                                : a->fmt.literal());
					s.fixed_str.s = s.fixed_text.data();
					s.fixed_str.len = (int)s.fixed_text.size();
					s.fixed = &s.fixed_str;
				} else {
					s.mode = param_slot::DYN_STR;
				}
			} else if (f & CMD_PARAM_REGEX) {
				if (literal && a->kind == expr::STR) {
					s.fixed_re = new regex_t;
					if (regcomp_guarded(s.fixed_re, a->fmt.literal().c_str(),
					            REG_EXTENDED) != 0) {
						delete s.fixed_re;
						s.fixed_re = nullptr;
						fail(c.line, argn + ": bad regular expression");
					}
					s.mode = param_slot::FIXED;
					s.fixed = s.fixed_re;
				} else {
					s.mode = param_slot::DYN_REGEX;
				}
			} else {
				fail(c.line, argn + ": the module declares no type for it");
			}
		}
	}

	void resolve_routes()
	{
		for (auto *c : s_.calls) {
			if (c->kind != call::ROUTE) continue;
			for (size_t i = 0; i < s_.routes.size(); i++)
				if (s_.routes[i]->type == route::SUB &&
				    s_.routes[i]->name == c->route_name)
					c->route_idx = (int)i;
			if (c->route_idx < 0)
				fail(c->line, "unknown route '" + c->route_name + "' in route(" +
				                  c->route_name + ")");
		}
	}
};

} // namespace

} // namespace shim::cfg

namespace shim {

int cfg_parse_string(const std::string &text, const std::string &name,
                     std::string &err)
{
	using namespace cfg;
	std::vector<token> toks;
	if (tokenize(text, name, toks, err) < 0) return -1;
	if (!g_script) g_script = new script;
	g_script->file = name;
	try {
		parser p(toks, name, *g_script);
		p.run();
	} catch (cfg_error &e) {
		err = e.msg;
		return -1;
	}
	return 0;
}

int cfg_parse_file(const std::string &path, std::string &err)
{
	std::string text;
	if (!read_whole_file(path, text)) {
		err = path + ": cannot open the configuration file";
		return -1;
	}
	return cfg_parse_string(text, path, err);
}

} // namespace shim
