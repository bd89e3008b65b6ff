// The parsed script: routes, statements, expressions (internal to cfg/).
// Built by the parser on the main thread, completed by cfg_fixup(), then
// read-only: worker threads share it without locks.
#pragma once

#include <regex.h>

#include <memory>
#include <string>
#include <vector>

#include "opensips/sr_module.h"
#include "opensips/pvar.h"
#include "modules/loader.h"

// Defined in the global namespace because pvar.h names it so.
struct pv_spec {
	enum kind_t {
		RC, VAR, AVP, PARAM, RM, RU, RU_USER, SI, SP, CI, FU, TU, LOG_LEVEL
	} kind = RC;
	std::string name; // $var/$avp/$param name
	int index = 0;    // $param(n): n (1-based); 0 when named
};

namespace shim::cfg {

// A script value: null, an integer or a string.
struct value {
	enum kind_t { NUL, INT, STR } kind = NUL;
	long i = 0;
	std::string s;
	static value null() { return {}; }
	static value of_int(long v) { value r; r.kind = INT; r.i = v; return r; }
	static value of_str(std::string v)
	{
		value r; r.kind = STR; r.s = std::move(v); return r;
	}
};

// A string literal split into text and variables ("a $ci b").
struct format {
	struct part {
		std::string text;            // when spec is null
		std::unique_ptr<pv_spec> spec;
	};
	std::vector<part> parts;
	bool dynamic() const
	{
		for (auto &p : parts)
			if (p.spec) return true;
		return false;
	}
	// The text itself when it is one plain part (or none), so a literal is
	// read without building a copy; nullptr when it must be built.
	const std::string *static_text() const
	{
		static const std::string empty;
		if (parts.empty()) return &empty;
		if (parts.size() == 1 && !parts[0].spec) return &parts[0].text;
		return nullptr;
	}
	std::string literal() const
	{
		std::string r;
		for (auto &p : parts) r += p.text;
		return r;
	}
};

struct call;

struct expr {
	enum kind_t {
		STR, INT, NUL, PVAR, CALL, NOT, AND, OR, EQ, NE, RE, NRE, GT, LT, GE,
		LE, ADD, SUB
	} kind = NUL;
	int line = 0;
	long i = 0;
	std::string raw;       // STR: the literal text as written (unexpanded)
	format fmt;            // STR
	std::unique_ptr<pv_spec> pv;   // PVAR
	std::unique_ptr<call> fn;      // CALL
	std::unique_ptr<expr> l, r;
	regex_t *re = nullptr;         // RE/NRE with a constant right side
	~expr();
};

// How one module-function parameter is passed.
struct param_slot {
	enum mode_t { OMITTED, FIXED, DYN_INT, DYN_STR, DYN_REGEX, VAR } mode =
	    OMITTED;
	const struct cmd_param *def = nullptr;
	expr *arg = nullptr;       // the argument (owned by call::args)
	void *fixed = nullptr;     // FIXED/VAR/OMITTED: the pointer handed over
	int fixed_int = 0;         // storage behind `fixed` for ints
	str fixed_str{nullptr, 0}; // ... for strings
	std::string fixed_text;
	regex_t *fixed_re = nullptr;
};

struct call {
	enum kind_t { MODULE, XLOG, ROUTE } kind = MODULE;
	std::string name;
	int line = 0;
	int in_route = -1; // index of the route the call is written in
	std::vector<std::unique_ptr<expr>> args; // nullptr for an empty argument
	// MODULE
	const cmd_export_t *cmd = nullptr;
	const loaded_module *owner = nullptr;
	param_slot slots[MAX_CMD_PARAMS];
	int nslots = 0;
	// XLOG
	int level = 0;
	bool has_level = false;
	// ROUTE
	std::string route_name;
	int route_idx = -1;
	~call(); // frees compiled regex parameters
};

struct stmt {
	enum kind_t { CALL, IF, WHILE, EXIT, DROP, RETURN, ASSIGN, BLOCK } kind =
	    BLOCK;
	int line = 0;
	std::unique_ptr<expr> e;          // IF/WHILE cond, CALL, RETURN, ASSIGN rhs
	std::unique_ptr<pv_spec> target; // ASSIGN
	std::vector<std::unique_ptr<stmt>> body;  // BLOCK, IF-then, WHILE
	std::vector<std::unique_ptr<stmt>> other; // IF-else
};

struct route {
	enum type_t { REQUEST, SUB, STARTUP, TIMER, EVENT } type = SUB;
	std::string name;
	int line = 0;
	unsigned interval = 0; // TIMER
	int route_types = 0;   // computed by cfg_fixup
	std::vector<std::unique_ptr<stmt>> body;
};

struct script {
	std::string file;
	std::vector<std::unique_ptr<route>> routes;
	int main_route = -1, startup_route = -1;
	std::vector<int> timer_routes, event_routes;
	std::vector<call *> calls; // every call, for fixups and checks
	bool fixed_up = false;
};

extern script *g_script;

// Parses a string literal body into a format; -1 with *err on an unknown
// variable.
int parse_format(const std::string &text, format &out, std::string &err);
// Parses "$name" / "$name(arg)" at text[pos]; advances pos. nullptr with
// *err set on an unknown variable, nullptr with empty err when text[pos] is
// not the start of a variable.
std::unique_ptr<pv_spec> parse_pvar(const std::string &text, size_t &pos,
                                    std::string &err);

} // namespace shim::cfg
