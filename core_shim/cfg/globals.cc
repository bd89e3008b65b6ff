// Core parameters (spec §7.1, decisions.md §16).
#include "settings/globals.h"
#include "evi/evi_allow.h"

#include <strings.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>

#include "cfg/global_params.h"
#include "log/log.h"
#include "sip/sip_parser.h"
#include "util/text.h"

namespace shim {
}

namespace shim::cfg {

namespace {

// A parameter value reduced to one of: integer, string (quoted or a bare
// word), or raw text.
struct pval {
	bool is_int = false, quoted = false, single = false;
	long i = 0;
	std::string s; // string body, bare word or raw text
};

bool bool_word(const std::string &w, long &out)
{
	static const char *t[] = {"yes", "true", "on", "enable"};
	static const char *f[] = {"no", "false", "off", "disable"};
	for (auto *x : t)
		if (!strcasecmp(w.c_str(), x)) { out = 1; return true; }
	for (auto *x : f)
		if (!strcasecmp(w.c_str(), x)) { out = 0; return true; }
	return false;
}

pval reduce(const std::vector<token> &v, const std::string &raw)
{
	pval p;
	p.s = raw;
	if (v.size() == 1) {
		p.single = true;
		if (v[0].kind == token::NUMBER) { p.is_int = true; p.i = v[0].num; }
		else if (v[0].kind == token::STRING) { p.quoted = true; p.s = v[0].text; }
		else if (v[0].kind == token::IDENT && bool_word(v[0].text, p.i))
			p.is_int = true;
	} else if (v.size() == 2 && v[0].kind == token::PUNCT && v[0].text == "-" &&
	           v[1].kind == token::NUMBER) {
		p.single = p.is_int = true;
		p.i = -v[1].num;
	}
	return p;
}

using setter = std::function<int(const pval &, std::string &)>;

setter int_p(int *dst, std::function<void(int)> also = nullptr)
{
	return [dst, also](const pval &v, std::string &msg) {
		if (!v.is_int) { msg = "expects an integer"; return -1; }
		*dst = (int)v.i;
		if (also) also(*dst);
		return 0;
	};
}

setter bool_p(bool *dst, std::function<void(bool)> also = nullptr)
{
	return [dst, also](const pval &v, std::string &msg) {
		if (!v.is_int) { msg = "expects a boolean (yes/no)"; return -1; }
		*dst = v.i != 0;
		if (also) also(*dst);
		return 0;
	};
}

setter str_p(std::string *dst, std::function<void(const std::string &)> also =
                                   nullptr)
{
	return [dst, also](const pval &v, std::string &msg) {
		if (!v.single || v.is_int) { msg = "expects a string"; return -1; }
		*dst = v.s;
		if (also) also(*dst);
		return 0;
	};
}

setter format_p(std::string *dst)
{
	return [dst](const pval &v, std::string &msg) {
		if (v.s != "plain_text" && v.s != "json" && v.s != "json_cee") {
			msg = "expects plain_text, json or json_cee";
			return -1;
		}
		*dst = v.s;
		return 0;
	};
}

// "N [use_auto_scaling_profile P]"
setter workers_p(int *dst, std::string *profile)
{
	return [dst, profile](const pval &v, std::string &msg) {
		std::vector<std::string> w = split_blank(v.s);
		w.resize(std::max<size_t>(w.size(), 4));
		const std::string &n = w[0], &kw = w[1], &prof = w[2], &extra = w[3];
		long num;
		if (!parse_number(n, num) || num < 0) {
			msg = "expects a number of workers";
			return -1;
		}
		if (!kw.empty() && (kw != "use_auto_scaling_profile" || prof.empty() ||
		                    !extra.empty())) {
			msg = "expects 'N [use_auto_scaling_profile NAME]'";
			return -1;
		}
		*dst = (int)num;
		*profile = prof;
		return 0;
	};
}

const std::map<std::string, setter> &table()
{
	static std::map<std::string, setter> t;
	if (!t.empty()) return t;
	core_globals &g = g_globals;
	t["log_level"] = int_p(&g.log_level, [](int l) { log_set_global_level(l); });
	t["stderror_enabled"] =
	    bool_p(&g.stderror_enabled, [](bool b) { log_set_stderr(b); });
	t["syslog_enabled"] = bool_p(&g.syslog_enabled);
	t["stderror_level_filter"] = int_p(&g.stderror_level_filter);
	t["syslog_level_filter"] = int_p(&g.syslog_level_filter);
	t["log_event_level_filter"] = int_p(&g.log_event_level_filter);
	t["stderror_log_format"] = format_p(&g.stderror_log_format);
	t["syslog_log_format"] = format_p(&g.syslog_log_format);
	t["log_stdout"] = bool_p(&g.log_stdout);
	t["log_prefix"] = str_p(&g.log_prefix,
	                        [](const std::string &s) { log_set_prefix(s); });
	t["log_event_enabled"] = bool_p(&g.log_event_enabled);
	t["log_msg_buf_size"] = int_p(&g.log_msg_buf_size);
	t["log_json_buf_size"] = int_p(&g.log_json_buf_size);
	t["syslog_facility"] = str_p(&g.syslog_facility);
	t["syslog_name"] = str_p(&g.syslog_name);
	t["debug_mode"] = bool_p(&g.debug_mode, [](bool on) {
		if (!on) return;
		g_globals.log_level = 4;
		log_set_global_level(4);
		g_globals.stderror_enabled = true;
		log_set_stderr(true);
		g_globals.udp_workers = g_globals.tcp_workers = 2;
	});
	t["udp_workers"] = workers_p(&g.udp_workers, &g.udp_workers_profile);
	t["tcp_workers"] = workers_p(&g.tcp_workers, &g.tcp_workers_profile);
	t["timer_workers"] = workers_p(&g.timer_workers, &g.timer_workers_profile);
	t["socket"] = [](const pval &v, std::string &msg) {
		sip_socket s;
		if (parse_socket(v.s, s, msg) < 0) return -1;
		g_globals.sockets.push_back(s);
		return 0;
	};
	t["mpath"] = [](const pval &v, std::string &msg) {
		if (!v.single || v.is_int || v.s.empty()) {
			msg = "expects a directory";
			return -1;
		}
		g_globals.mpath.push_back(v.s);
		return 0;
	};
	t["exec_msg_threshold"] = int_p(&g.exec_msg_threshold);
	t["exec_dns_threshold"] = int_p(&g.exec_dns_threshold);
	t["tcp_threshold"] = int_p(&g.tcp_threshold);
	auto pct = [](int *dst) {
		return [dst](const pval &v, std::string &msg) {
			if (!v.is_int || v.i < 0 || v.i > 100) {
				msg = "expects a percentage (0..100)";
				return -1;
			}
			*dst = (int)v.i;
			return 0;
		};
	};
	t["event_pkg_threshold"] = pct(&g.event_pkg_threshold);
	t["event_shm_threshold"] = pct(&g.event_shm_threshold);
	t["auto_scaling_profile"] = [](const pval &v, std::string &msg) {
		if (v.s.find("scale") == std::string::npos) {
			msg = "expects 'NAME scale up to ...'";
			return -1;
		}
		// raw text with runs of white space folded
		std::string out;
		for (const std::string &w : split_blank(v.s))
			out += (out.empty() ? "" : " ") + w;
		g_globals.auto_scaling_profiles.push_back(out);
		return 0;
	};
	t["auto_scaling_cycle"] = int_p(&g.auto_scaling_cycle);
	t["xlog_level"] = int_p(&g.xlog_level, [](int l) { shim::xlog_level = l; });
	t["xlog_print_level"] =
	    int_p(&g.xlog_print_level, [](int l) { shim::xlog_print_level = l; });
	t["server_header"] = str_p(&g.server_header, [](const std::string &s) {
		// OpenSIPS writes the whole header ("Server: x"); keep the value.
		std::string v = s;
		if (!strncasecmp(v.c_str(), "Server:", 7)) {
			v = v.substr(7);
			while (!v.empty() && v[0] == ' ') v.erase(0, 1);
		}
		g_globals.server_header = v;
		sip_set_server_header(v);
	});
	t["auto_load_core_modules"] = bool_p(&g.auto_load_core_modules);
	t["mi_list_aliases"] = bool_p(&g.mi_list_aliases);
	t["shutdown_grace"] = int_p(&g.shutdown_grace);
	t["udp_gso"] = bool_p(&g.udp_gso);
	t["busy_poll_usec"] = [&g](const pval &v, std::string &msg) {
		if (!v.is_int || v.i < 0 || v.i > 1000) {
			msg = "expects microseconds (0..1000)";
			return -1;
		}
		g.busy_poll_usec = (int)v.i;
		return 0;
	};
	t["event_subscriber_allow"] = [](const pval &v, std::string &msg) {
		if (!v.single || v.is_int) {
			msg = "expects a string of networks, e.g. \"127.0.0.0/8, ::1\"";
			return -1;
		}
		return shim::evi_allow_set(v.s, msg);
	};
	return t;
}

} // namespace

int parse_socket(const std::string &raw, sip_socket &out, std::string &msg)
{
	std::vector<std::string> words = split_blank(raw);
	std::string addr = words.empty() ? "" : words[0];
	if (addr.size() > 1 && addr.front() == '"' && addr.back() == '"')
		addr = addr.substr(1, addr.size() - 2);
	size_t c = addr.find(':');
	if (c == std::string::npos) {
		msg = "socket expects proto:address[:port]";
		return -1;
	}
	std::string proto = addr.substr(0, c), rest = addr.substr(c + 1);
	if (!strcasecmp(proto.c_str(), "udp")) out.proto = 1;
	else if (!strcasecmp(proto.c_str(), "tcp")) out.proto = 2;
	else {
		msg = "socket protocol '" + proto + "' is not supported (udp, tcp)";
		return -1;
	}
	std::string ip, port;
	if (!rest.empty() && rest[0] == '[') {
		size_t e = rest.find(']');
		if (e == std::string::npos) { msg = "bad IPv6 address in socket"; return -1; }
		ip = rest.substr(1, e - 1);
		if (e + 1 < rest.size()) {
			if (rest[e + 1] != ':') { msg = "bad socket address"; return -1; }
			port = rest.substr(e + 2);
		}
	} else {
		size_t p = rest.find(':');
		ip = rest.substr(0, p);
		if (p != std::string::npos) port = rest.substr(p + 1);
	}
	if (ip.empty()) { msg = "socket has no address"; return -1; }
	long pn = 5060;
	if (!port.empty()) {
		// a port range "5060-5070" takes its first port
		std::string first = port.substr(0, port.find('-'));
		if (!parse_number(first, pn) || pn <= 0 || pn > 65535) {
			msg = "bad socket port '" + port + "'";
			return -1;
		}
	}
	out.ip = ip;
	out.port = (int)pn;
	bool v6 = ip.find(':') != std::string::npos;
	out.text = std::string(out.proto == 1 ? "udp" : "tcp") + ":" +
	           (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(pn);
	// options: accepted and ignored
	static const std::map<std::string, int> opts = {
	    {"as", 1}, {"use_workers", 1}, {"anycast", 0},
	    {"use_auto_scaling_profile", 1}, {"tag", 1}, {"frag", 0},
	    {"reuse_port", 0}, {"tos", 1}, {"accept_subdomain", 0},
	    {"allow_proxy_protocol", 0}, {"send_proxy_protocol", 0},
	    {"proxy_protocol", 0}};
	for (size_t i = 1; i < words.size(); i++) {
		const std::string &w = words[i];
		auto it = opts.find(w);
		if (it == opts.end()) {
			msg = "unknown socket option '" + w + "'";
			return -1;
		}
		if (it->second && ++i >= words.size()) {
			msg = "socket option '" + w + "' needs a value";
			return -1;
		}
	}
	return 0;
}

int global_set(const std::string &name, const std::vector<token> &val,
               const std::string &raw, std::string &msg)
{
	static const std::map<std::string, std::string> removed = {
	    {"listen", "use 'socket'"}, {"log_stderror", "use 'stderror_enabled'"},
	    {"children", "use 'udp_workers'"}, {"fork", "use 'debug_mode'"}};
	auto t = table().find(name);
	if (t == table().end()) {
		auto r = removed.find(name);
		if (r != removed.end())
			msg = "core parameter '" + name + "' was removed in OpenSIPS 4.0: " +
			      r->second;
		else
			msg = "unknown core parameter '" + name + "'";
		return -1;
	}
	if (val.empty()) {
		msg = "core parameter '" + name + "' has no value";
		return -1;
	}
	std::string m;
	if (t->second(reduce(val, raw), m) < 0) {
		msg = "core parameter '" + name + "' " + m;
		return -1;
	}
	return 0;
}

} // namespace shim::cfg
