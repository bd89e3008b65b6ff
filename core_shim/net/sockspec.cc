// Socket specs (include/opensips/net.h): shim_sockspec_parse,
// shim_sockspec_resolve, shim_sockspec_print. Pure text work except the
// lookup of a name, which goes through the measured resolver
// (net/resolve.cc) so that modules' lookups are counted and timed like the
// host's own.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include <string_view>

#include "net/resolve.h"
#include "opensips/net.h"

static_assert(SHIM_SOCK_PATH_MAX == sizeof(((struct sockaddr_un *)nullptr)->sun_path),
              "SHIM_SOCK_PATH_MAX is the size of sun_path");

namespace {

constexpr int k_all_protos = SHIM_PROTO_UDP | SHIM_PROTO_TCP | SHIM_PROTO_UNIX;

__attribute__((format(printf, 3, 4))) int fail(char *err, int err_len, const char *fmt, ...)
{
	if (err && err_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, (size_t)err_len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

const char *proto_name(int proto)
{
	switch (proto) {
	case SHIM_PROTO_UDP: return "udp";
	case SHIM_PROTO_TCP: return "tcp";
	case SHIM_PROTO_UNIX: return "unix";
	}
	return nullptr;
}

int proto_by_name(std::string_view w)
{
	for (int p : {SHIM_PROTO_UDP, SHIM_PROTO_TCP, SHIM_PROTO_UNIX}) {
		const char *n = proto_name(p);
		if (w.size() == strlen(n) && strncasecmp(w.data(), n, w.size()) == 0)
			return p;
	}
	return 0;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view s)
{
	if (s.empty())
		return false;
	for (char c : s)
		if (!is_digit(c))
			return false;
	return true;
}

// A word that may name a protocol: a letter, then letters or digits.
bool is_word(std::string_view s)
{
	if (s.empty() || !is_alpha(s[0]))
		return false;
	for (char c : s)
		if (!is_alpha(c) && !is_digit(c))
			return false;
	return true;
}

bool is_v6(std::string_view s)
{
	char buf[INET6_ADDRSTRLEN + 1];
	if (s.empty() || s.size() >= sizeof buf)
		return false;
	memcpy(buf, s.data(), s.size());
	buf[s.size()] = 0;
	struct in6_addr a;
	return inet_pton(AF_INET6, buf, &a) == 1;
}

bool is_v4(std::string_view s)
{
	char buf[INET_ADDRSTRLEN + 1];
	if (s.empty() || s.size() >= sizeof buf)
		return false;
	memcpy(buf, s.data(), s.size());
	buf[s.size()] = 0;
	struct in_addr a;
	return inet_pton(AF_INET, buf, &a) == 1;
}

// "udp:, tcp: or unix:" for the accepted set (for "missing protocol").
void accepted_list(int accepted, char *buf, size_t len)
{
	buf[0] = 0;
	int n = 0, total = __builtin_popcount((unsigned)accepted);
	for (int p : {SHIM_PROTO_UDP, SHIM_PROTO_TCP, SHIM_PROTO_UNIX}) {
		if (!(accepted & p))
			continue;
		size_t used = strlen(buf);
		const char *sep = n == 0 ? "" : (n == total - 1 ? " or " : ", ");
		snprintf(buf + used, len - used, "%s%s:", sep, proto_name(p));
		n++;
	}
}

int parse_port(std::string_view t, int min, int *out)
{
	if (!all_digits(t) || t.size() > 5)
		return -1;
	int v = 0;
	for (char c : t)
		v = v * 10 + (c - '0');
	if (v < min || v > 65535)
		return -1;
	*out = v;
	return 0;
}

// The host of an inet spec that is not an IPv6 literal.
int check_host(std::string_view h, int flags, struct shim_sockspec *out, char *err, int err_len)
{
	if (h.empty())
		return fail(err, err_len, "missing host");
	if (h == "*") {
		if (!(flags & SHIM_SOCK_ANY))
			return fail(err, err_len, "'*' (every address) is not accepted here");
		out->is_numeric = 1;
		return 0;
	}
	if (h.size() >= SHIM_SOCK_HOST_MAX)
		return fail(err, err_len, "the host is longer than %d bytes", SHIM_SOCK_HOST_MAX - 1);
	bool digits_and_dots = true;
	for (char c : h) {
		if (is_alpha(c) || c == '-' || c == '_')
			digits_and_dots = false;
		else if (!is_digit(c) && c != '.') {
			if (c >= ' ' && c < 0x7f)
				return fail(err, err_len, "bad character '%c' in host '%.*s'", c,
				            (int)h.size(), h.data());
			return fail(err, err_len, "bad character 0x%02x in host",
			            (unsigned)(unsigned char)c);
		}
	}
	if (is_v4(h)) {
		out->is_numeric = 1;
		return 0;
	}
	// "1.2.3", "300.1.1.1": meant as an address, never looked up as a name
	if (digits_and_dots)
		return fail(err, err_len, "'%.*s' is not an IPv4 address", (int)h.size(), h.data());
	return 0;
}

int parse_inet(std::string_view s, size_t off, int flags, int default_port,
               struct shim_sockspec *out, char *err, int err_len)
{
	std::string_view body = s;
	if (flags & SHIM_SOCK_TAIL) {
		size_t slash = s.find('/');
		if (slash != std::string_view::npos) {
			out->tail_off = (int)(off + slash + 1);
			out->tail_len = (int)(s.size() - slash - 1);
			body = s.substr(0, slash);
		}
	}
	std::string_view host, port;
	bool has_port = false;
	if (!body.empty() && body[0] == '[') {
		size_t close = body.find(']');
		if (close == std::string_view::npos)
			return fail(err, err_len, "unterminated '['");
		host = body.substr(1, close - 1);
		std::string_view after = body.substr(close + 1);
		if (!after.empty()) {
			if (after[0] != ':')
				return fail(err, err_len, "unexpected text after ']'");
			port = after.substr(1);
			has_port = true;
		}
		if (host.empty())
			return fail(err, err_len, "missing host (empty brackets)");
		if (!is_v6(host))
			return fail(err, err_len, "'%.*s' in brackets is not an IPv6 address",
			            (int)host.size(), host.data());
		out->is_ipv6 = 1;
		out->is_numeric = 1;
	} else {
		size_t first = body.find(':'), last = body.rfind(':');
		if (first == std::string_view::npos) {
			host = body;
		} else {
			host = body.substr(0, last);
			port = body.substr(last + 1);
			has_port = true;
		}
		if (first != last) {
			// more than one ':': an IPv6 literal without brackets
			if (default_port > 0)
				return fail(err, err_len,
				            "an IPv6 address must be in brackets ('[::1]:9000')");
			if (!is_v6(host))
				return fail(err, err_len,
				            "'%.*s' is not an IPv6 address (IPv6 goes in brackets: "
				            "'[::1]:9000')",
				            (int)host.size(), host.data());
			out->is_ipv6 = 1;
			out->is_numeric = 1;
		} else if (check_host(host, flags, out, err, err_len) < 0) {
			return -1;
		}
	}
	if (has_port) {
		const int min = (flags & SHIM_SOCK_PORT_1024) ? 1024 : 1;
		if (port.empty())
			return fail(err, err_len, "missing port");
		if (parse_port(port, min, &out->port) < 0)
			return fail(err, err_len, "the port must be %d..65535", min);
		out->port_given = 1;
	} else {
		if (default_port <= 0)
			return fail(err, err_len, "missing port");
		if (default_port > 65535)
			return fail(err, err_len, "the default port %d is not 1..65535", default_port);
		out->port = default_port;
	}
	memcpy(out->host, host.data(), host.size());
	out->host[host.size()] = 0;
	return 0;
}

int parse_path(std::string_view s, struct shim_sockspec *out, char *err, int err_len)
{
	if (s.empty())
		return fail(err, err_len, "missing path");
	if (s.find('\0') != std::string_view::npos)
		return fail(err, err_len, "the path contains a NUL byte");
	if (s.size() >= SHIM_SOCK_PATH_MAX)
		return fail(err, err_len, "the path is %zu bytes long, at most %d are possible",
		            s.size(), SHIM_SOCK_PATH_MAX - 1);
	memcpy(out->path, s.data(), s.size());
	out->path[s.size()] = 0;
	return 0;
}

} // namespace

extern "C" int shim_sockspec_parse(const char *text, int len, int flags, int default_proto,
                                   int default_port, struct shim_sockspec *out, char *err,
                                   int err_len)
{
	if (err && err_len > 0)
		err[0] = 0;
	if (!out)
		return fail(err, err_len, "no struct shim_sockspec to fill");
	if (out->size != sizeof(struct shim_sockspec))
		return fail(err, err_len,
		            "struct shim_sockspec of %u bytes, the host's has %zu: rebuild the "
		            "module against this host's headers",
		            out->size, sizeof(struct shim_sockspec));
	memset(out, 0, sizeof *out);
	out->size = sizeof *out;
	out->tail_off = -1;
	if (default_proto != 0 && !proto_name(default_proto))
		return fail(err, err_len, "bad default protocol %d", default_proto);
	if (!text)
		len = 0;
	else if (len < 0)
		len = (int)strlen(text);
	if (len == 0)
		return fail(err, err_len, "empty socket");
	std::string_view s(text, (size_t)len);
	size_t off = 0;

	int proto = 0;
	const int accepted = flags & k_all_protos;
	size_t colon = s.find(':');
	if ((flags & SHIM_SOCK_PREFIX) && colon != std::string_view::npos && colon > 0 &&
	    is_word(s.substr(0, colon))) {
		std::string_view word = s.substr(0, colon), rest = s.substr(colon + 1);
		int named = proto_by_name(word);
		// A word that names no protocol is one only when an address or a
		// path follows it: "localhost:5060" is a host and a port.
		bool prefix = named || rest.find(':') != std::string_view::npos ||
		              (!rest.empty() && (rest[0] == '/' || rest[0] == '['));
		if (prefix) {
			if (named && (accepted & named)) {
				proto = named;
				s = rest;
				off = colon + 1;
			} else if (default_proto != SHIM_PROTO_UNIX) {
				if (!named)
					return fail(err, err_len, "unknown protocol '%.*s'", (int)word.size(),
					            word.data());
				return fail(err, err_len, "protocol '%.*s' is not accepted here",
				            (int)word.size(), word.data());
			}
			// else: no accepted prefix, so the whole text is a unix path
		}
	}
	if (!proto) {
		if (!default_proto) {
			char list[64];
			accepted_list(accepted ? accepted : k_all_protos, list, sizeof list);
			return fail(err, err_len, "missing protocol (%s)", list);
		}
		proto = default_proto;
	}
	out->proto = proto;
	if (proto == SHIM_PROTO_UNIX)
		return parse_path(s, out, err, err_len);
	return parse_inet(s, off, flags, default_port, out, err, err_len);
}

extern "C" int shim_sockspec_resolve(const struct shim_sockspec *spec, int flags,
                                     struct sockaddr_storage *addr, socklen_t *addr_len,
                                     char *err, int err_len)
{
	if (err && err_len > 0)
		err[0] = 0;
	if (!spec || !addr || !addr_len)
		return fail(err, err_len, "nothing to resolve");
	if (spec->size != sizeof(struct shim_sockspec))
		return fail(err, err_len,
		            "struct shim_sockspec of %u bytes, the host's has %zu: rebuild the "
		            "module against this host's headers",
		            spec->size, sizeof(struct shim_sockspec));
	memset(addr, 0, sizeof *addr);
	if (spec->proto == SHIM_PROTO_UNIX) {
		size_t n = strnlen(spec->path, sizeof spec->path);
		if (n == 0 || n >= sizeof spec->path)
			return fail(err, err_len, "missing path");
		auto *sun = (struct sockaddr_un *)addr;
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, spec->path, n);
		*addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
	if (spec->proto != SHIM_PROTO_UDP && spec->proto != SHIM_PROTO_TCP)
		return fail(err, err_len, "bad protocol %d", spec->proto);
	if (spec->port < 1 || spec->port > 65535)
		return fail(err, err_len, "the port must be 1..65535");
	const char *host = spec->host;
	if (strnlen(host, sizeof spec->host) >= sizeof spec->host || !*host)
		return fail(err, err_len, "missing host");
	const uint16_t port = htons((uint16_t)spec->port);
	const bool v4_only = flags & SHIM_RESOLVE_IPV4;

	auto *sin = (struct sockaddr_in *)addr;
	auto *sin6 = (struct sockaddr_in6 *)addr;
	if (strcmp(host, "*") == 0) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = port;
		*addr_len = sizeof *sin;
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = port;
		*addr_len = sizeof *sin;
		return 0;
	}
	struct in6_addr a6;
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		if (v4_only)
			return fail(err, err_len, "'%s' is an IPv6 address: only IPv4 is supported here",
			            host);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = a6;
		sin6->sin6_port = port;
		*addr_len = sizeof *sin6;
		return 0;
	}
	socklen_t len = 0;
	int rc = shim::resolve_measured(host, v4_only ? AF_INET : AF_UNSPEC, addr, &len);
	if (rc != 0) {
		memset(addr, 0, sizeof *addr);
		return fail(err, err_len, "cannot resolve '%s': %s", host, gai_strerror(rc));
	}
	if (addr->ss_family == AF_INET)
		sin->sin_port = port;
	else
		sin6->sin6_port = port;
	*addr_len = len;
	return 0;
}

extern "C" int shim_sockspec_print(const struct shim_sockspec *spec, int with_proto, char *buf,
                                   int buf_len)
{
	if (!spec || spec->size != sizeof(struct shim_sockspec) || !proto_name(spec->proto))
		return -1;
	if (!buf)
		buf_len = 0;
	char prefix[8] = "";
	if (with_proto)
		snprintf(prefix, sizeof prefix, "%s:", proto_name(spec->proto));
	int n;
	if (spec->proto == SHIM_PROTO_UNIX)
		n = snprintf(buf, (size_t)(buf_len > 0 ? buf_len : 0), "%s%.*s", prefix,
		             (int)sizeof spec->path, spec->path);
	else
		n = snprintf(buf, (size_t)(buf_len > 0 ? buf_len : 0),
		             spec->is_ipv6 ? "%s[%.*s]:%d" : "%s%.*s:%d", prefix,
		             (int)sizeof spec->host, spec->host, spec->port);
	return n;
}
