// Socket specs (include/opensips/net.h, core_shim/net/sockspec.cc): every
// form the parser takes and every error it gives, resolution of literals
// (no lookup), of names (through the measured resolver: dns: statistics)
// and of unix paths, the IPv4-only option, printing, and the size check.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <string>

#include "settings/globals.h"
#include "net/resolve.h"
#include "opensips/net.h"
#include "opensips/statistics.h"

#include "../cmocka_cxx.h" // last

extern "C" void shim_set_resolve_delay_for_tests(int us);

namespace {

struct parsed {
	int rc;
	shim_sockspec spec;
	std::string err;
};

parsed parse(const char *text, int flags, int proto, int def_port = 0)
{
	parsed p{};
	p.spec.size = sizeof p.spec;
	char err[256] = "untouched";
	p.rc = shim_sockspec_parse(text, -1, flags, proto, def_port, &p.spec, err, sizeof err);
	p.err = err;
	return p;
}

parsed ok(const char *text, int flags, int proto, int def_port = 0)
{
	parsed p = parse(text, flags, proto, def_port);
	if (p.rc != 0)
		fail_msg("'%s' refused: %s", text, p.err.c_str());
	assert_string_equal(p.err.c_str(), "");
	return p;
}

void refused(const char *text, int flags, int proto, int def_port, const char *why)
{
	parsed p = parse(text, flags, proto, def_port);
	if (p.rc == 0)
		fail_msg("'%s' accepted", text);
	if (p.err != why)
		fail_msg("'%s': got \"%s\", want \"%s\"", text, p.err.c_str(), why);
}

std::string printed(const shim_sockspec &s, int with_proto)
{
	char buf[512];
	int n = shim_sockspec_print(&s, with_proto, buf, sizeof buf);
	assert_true(n >= 0);
	assert_int_equal((size_t)n, strlen(buf));
	return buf;
}

std::string ip_of(const sockaddr_storage &a)
{
	char buf[INET6_ADDRSTRLEN] = "";
	if (a.ss_family == AF_INET)
		inet_ntop(AF_INET, &((const sockaddr_in &)a).sin_addr, buf, sizeof buf);
	else if (a.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const sockaddr_in6 &)a).sin6_addr, buf, sizeof buf);
	return buf;
}

int port_of(const sockaddr_storage &a)
{
	if (a.ss_family == AF_INET)
		return ntohs(((const sockaddr_in &)a).sin_port);
	return ntohs(((const sockaddr_in6 &)a).sin6_port);
}

stat_var *g_total, *g_slow;

unsigned long lookups() { return get_stat_val(g_total); }

int setup(void **)
{
	if (shim::dns_stats_register() < 0)
		return -1;
	g_total = get_stat("dns:dns_total_queries");
	g_slow = get_stat("dns:dns_slow_queries");
	return g_total && g_slow ? 0 : -1;
}

// ---- parsing ----

void test_inet_forms(void **)
{
	parsed p = ok("127.0.0.1:9000", 0, SHIM_PROTO_UDP);
	assert_int_equal(p.spec.proto, SHIM_PROTO_UDP);
	assert_string_equal(p.spec.host, "127.0.0.1");
	assert_int_equal(p.spec.port, 9000);
	assert_int_equal(p.spec.port_given, 1);
	assert_int_equal(p.spec.is_numeric, 1);
	assert_int_equal(p.spec.is_ipv6, 0);
	assert_string_equal(p.spec.path, "");
	assert_int_equal(p.spec.tail_off, -1);
	assert_string_equal(printed(p.spec, 0).c_str(), "127.0.0.1:9000");
	assert_string_equal(printed(p.spec, 1).c_str(), "udp:127.0.0.1:9000");

	p = ok("localhost:65535", 0, SHIM_PROTO_TCP);
	assert_int_equal(p.spec.proto, SHIM_PROTO_TCP);
	assert_string_equal(p.spec.host, "localhost");
	assert_int_equal(p.spec.port, 65535);
	assert_int_equal(p.spec.is_numeric, 0);
	assert_string_equal(printed(p.spec, 1).c_str(), "tcp:localhost:65535");

	// leading zeros, names with - and _, the port printed in decimal
	p = ok("my-host_1.example:0080", 0, SHIM_PROTO_UDP);
	assert_int_equal(p.spec.port, 80);
	assert_string_equal(printed(p.spec, 0).c_str(), "my-host_1.example:80");

	// IPv6 in brackets
	p = ok("[::1]:9000", 0, SHIM_PROTO_UDP);
	assert_string_equal(p.spec.host, "::1");
	assert_int_equal(p.spec.is_ipv6, 1);
	assert_int_equal(p.spec.is_numeric, 1);
	assert_int_equal(p.spec.port, 9000);
	assert_string_equal(printed(p.spec, 0).c_str(), "[::1]:9000");
	p = ok("[2001:db8::5]:1", 0, SHIM_PROTO_TCP);
	assert_string_equal(p.spec.host, "2001:db8::5");
	assert_int_equal(p.spec.port, 1);

	// unbracketed IPv6 when the port is required: the last ':' ends it
	p = ok("::1:9000", 0, SHIM_PROTO_UDP);
	assert_string_equal(p.spec.host, "::1");
	assert_int_equal(p.spec.is_ipv6, 1);
	assert_int_equal(p.spec.port, 9000);
	assert_string_equal(printed(p.spec, 0).c_str(), "[::1]:9000");
}

void test_default_port(void **)
{
	parsed p = ok("example.com", 0, SHIM_PROTO_UDP, 5060);
	assert_string_equal(p.spec.host, "example.com");
	assert_int_equal(p.spec.port, 5060);
	assert_int_equal(p.spec.port_given, 0);
	p = ok("10.0.0.1", 0, SHIM_PROTO_UDP, 5060);
	assert_int_equal(p.spec.port, 5060);
	p = ok("[::1]", 0, SHIM_PROTO_UDP, 5060);
	assert_string_equal(p.spec.host, "::1");
	assert_int_equal(p.spec.port, 5060);
	// a port written wins over the default
	p = ok("10.0.0.1:7000", 0, SHIM_PROTO_UDP, 5060);
	assert_int_equal(p.spec.port, 7000);
	assert_int_equal(p.spec.port_given, 1);
	p = ok("[::1]:7000", 0, SHIM_PROTO_UDP, 5060);
	assert_int_equal(p.spec.port, 7000);
	// with an optional port, IPv6 must be bracketed (::1:9000 is an address)
	refused("::1:9000", 0, SHIM_PROTO_UDP, 5060,
	        "an IPv6 address must be in brackets ('[::1]:9000')");
	refused("::1", 0, SHIM_PROTO_UDP, 5060,
	        "an IPv6 address must be in brackets ('[::1]:9000')");
	refused("10.0.0.1:", 0, SHIM_PROTO_UDP, 5060, "missing port");
	refused("h", 0, SHIM_PROTO_UDP, 70000, "the default port 70000 is not 1..65535");
}

void test_prefixes(void **)
{
	const int any = SHIM_SOCK_PREFIX | SHIM_PROTO_UDP | SHIM_PROTO_TCP | SHIM_PROTO_UNIX;
	parsed p = ok("udp:1.2.3.4:5060", any, 0);
	assert_int_equal(p.spec.proto, SHIM_PROTO_UDP);
	assert_string_equal(p.spec.host, "1.2.3.4");
	p = ok("TCP:[::1]:5061", any, 0);
	assert_int_equal(p.spec.proto, SHIM_PROTO_TCP);
	assert_string_equal(p.spec.host, "::1");
	assert_string_equal(printed(p.spec, 1).c_str(), "tcp:[::1]:5061");
	p = ok("unix:/run/x.sock", any, 0);
	assert_int_equal(p.spec.proto, SHIM_PROTO_UNIX);
	assert_string_equal(p.spec.path, "/run/x.sock");
	assert_string_equal(p.spec.host, "");
	assert_int_equal(p.spec.port, 0);
	assert_string_equal(printed(p.spec, 1).c_str(), "unix:/run/x.sock");
	assert_string_equal(printed(p.spec, 0).c_str(), "/run/x.sock");
	// a prefix with a default port
	p = ok("udp:example.com", any, 0, 5060);
	assert_string_equal(p.spec.host, "example.com");
	assert_int_equal(p.spec.port, 5060);

	// no prefix: the default protocol; a name and a port are no prefix
	p = ok("localhost:5060", any, SHIM_PROTO_TCP);
	assert_int_equal(p.spec.proto, SHIM_PROTO_TCP);
	assert_string_equal(p.spec.host, "localhost");
	refused("localhost:5060", any, 0, 0, "missing protocol (udp:, tcp: or unix:)");
	refused("1.2.3.4:5060", SHIM_SOCK_PREFIX | SHIM_PROTO_UDP, 0, 0, "missing protocol (udp:)");
	refused("1.2.3.4:5060", SHIM_SOCK_PREFIX | SHIM_PROTO_UDP | SHIM_PROTO_TCP, 0, 0,
	        "missing protocol (udp: or tcp:)");
	refused("sctp:1.2.3.4:5060", any, 0, 0, "unknown protocol 'sctp'");
	refused("sctp:[::1]:5060", any, SHIM_PROTO_UDP, 0, "unknown protocol 'sctp'");
	refused("tls:/x", any, SHIM_PROTO_UDP, 0, "unknown protocol 'tls'");
	refused("tcp:1.2.3.4:5060", SHIM_SOCK_PREFIX | SHIM_PROTO_UDP, SHIM_PROTO_UDP, 0,
	        "protocol 'tcp' is not accepted here");
	// without SHIM_SOCK_PREFIX a prefix is not read at all
	refused("udp:1.2.3.4:5060", 0, SHIM_PROTO_UDP, 0,
	        "'udp:1.2.3.4' is not an IPv6 address (IPv6 goes in brackets: '[::1]:9000')");
	refused("udp:", any, 0, 0, "missing host");
	refused("unix:", any, 0, 0, "missing path");
	refused("x", 0, 9, 0, "bad default protocol 9");
}

void test_bare_path(void **)
{
	// mi_datagram's socket_name: `udp:h:p`, or else a path as a whole
	const int f = SHIM_SOCK_PREFIX | SHIM_PROTO_UDP | SHIM_SOCK_ANY | SHIM_SOCK_PORT_1024;
	parsed p = ok("udp:127.0.0.1:8080", f, SHIM_PROTO_UNIX);
	assert_int_equal(p.spec.proto, SHIM_PROTO_UDP);
	assert_int_equal(p.spec.port, 8080);
	p = ok("UDP:*:8080", f, SHIM_PROTO_UNIX);
	assert_string_equal(p.spec.host, "*");
	assert_int_equal(p.spec.is_numeric, 1);
	p = ok("/tmp/mi.sock", f, SHIM_PROTO_UNIX);
	assert_int_equal(p.spec.proto, SHIM_PROTO_UNIX);
	assert_string_equal(p.spec.path, "/tmp/mi.sock");
	// prefixes it does not accept are part of the path (as OpenSIPS)
	p = ok("unix:/tmp/mi.sock", f, SHIM_PROTO_UNIX);
	assert_string_equal(p.spec.path, "unix:/tmp/mi.sock");
	p = ok("tcp:1.2.3.4:8080", f, SHIM_PROTO_UNIX);
	assert_string_equal(p.spec.path, "tcp:1.2.3.4:8080");
	p = ok("relative.sock", f, SHIM_PROTO_UNIX);
	assert_string_equal(p.spec.path, "relative.sock");
	refused("udp:127.0.0.1:80", f, SHIM_PROTO_UNIX, 0, "the port must be 1024..65535");
	refused("udp:127.0.0.1:1023", f, SHIM_PROTO_UNIX, 0, "the port must be 1024..65535");
	ok("udp:127.0.0.1:1024", f, SHIM_PROTO_UNIX);
	refused("udp:127.0.0.1:70000", f, SHIM_PROTO_UNIX, 0, "the port must be 1024..65535");
	refused("udp:127.0.0.1:", f, SHIM_PROTO_UNIX, 0, "missing port");
	refused("udp:127.0.0.1", f, SHIM_PROTO_UNIX, 0, "missing port");
	refused("udp:127.0.0.1:x1", f, SHIM_PROTO_UNIX, 0, "the port must be 1024..65535");
}

void test_tail(void **)
{
	const char *t = "127.0.0.1:9902/my_method";
	parsed p = ok(t, SHIM_SOCK_TAIL, SHIM_PROTO_TCP);
	assert_int_equal(p.spec.port, 9902);
	assert_int_equal(p.spec.tail_off, 15);
	assert_int_equal(p.spec.tail_len, 9);
	assert_memory_equal(t + p.spec.tail_off, "my_method", 9);
	p = ok("127.0.0.1:1/", SHIM_SOCK_TAIL, SHIM_PROTO_TCP);
	assert_int_equal(p.spec.tail_off, 12);
	assert_int_equal(p.spec.tail_len, 0);
	p = ok("[::1]:9/a/b", SHIM_SOCK_TAIL, SHIM_PROTO_TCP);
	assert_string_equal(p.spec.host, "::1");
	assert_int_equal(p.spec.tail_len, 3);
	// the offset counts the prefix too
	t = "tcp:h:1/m";
	p = ok(t, SHIM_SOCK_TAIL | SHIM_SOCK_PREFIX | SHIM_PROTO_TCP, 0);
	assert_int_equal(p.spec.tail_off, 8);
	assert_int_equal(p.spec.tail_len, 1);
	p = ok("127.0.0.1:9902", SHIM_SOCK_TAIL, SHIM_PROTO_TCP);
	assert_int_equal(p.spec.tail_off, -1);
	// without SHIM_SOCK_TAIL a '/' is part of the port
	refused("127.0.0.1:9902/m", 0, SHIM_PROTO_TCP, 0, "the port must be 1..65535");
	refused("127.0.0.1/m", SHIM_SOCK_TAIL, SHIM_PROTO_TCP, 0, "missing port");
}

void test_inet_errors(void **)
{
	const int u = SHIM_PROTO_UDP;
	refused("", 0, u, 0, "empty socket");
	refused("127.0.0.1", 0, u, 0, "missing port");
	refused("127.0.0.1:", 0, u, 0, "missing port");
	refused(":9901", 0, u, 0, "missing host");
	refused("127.0.0.1:0", 0, u, 0, "the port must be 1..65535");
	refused("127.0.0.1:65536", 0, u, 0, "the port must be 1..65535");
	refused("127.0.0.1:70000", 0, u, 0, "the port must be 1..65535");
	refused("127.0.0.1:99999999999", 0, u, 0, "the port must be 1..65535");
	refused("127.0.0.1:99x", 0, u, 0, "the port must be 1..65535");
	refused("127.0.0.1:-5", 0, u, 0, "the port must be 1..65535");
	refused("127.0.0.1:+5", 0, u, 0, "the port must be 1..65535");
	refused("127.0.0.1: 5", 0, u, 0, "the port must be 1..65535");
	refused("[::1", 0, u, 0, "unterminated '['");
	refused("[::1:9000", 0, u, 0, "unterminated '['");
	refused("[]:9000", 0, u, 0, "missing host (empty brackets)");
	refused("[::1]9000", 0, u, 0, "unexpected text after ']'");
	refused("[::1]:", 0, u, 0, "missing port");
	refused("[::1]", 0, u, 0, "missing port");
	refused("[localhost]:9000", 0, u, 0, "'localhost' in brackets is not an IPv6 address");
	refused("[1.2.3.4]:9000", 0, u, 0, "'1.2.3.4' in brackets is not an IPv6 address");
	refused("a:b:9000", 0, u, 0,
	        "'a:b' is not an IPv6 address (IPv6 goes in brackets: '[::1]:9000')");
	refused("1.2.3:9000", 0, u, 0, "'1.2.3' is not an IPv4 address");
	refused("300.1.1.1:9000", 0, u, 0, "'300.1.1.1' is not an IPv4 address");
	refused("my host:9000", 0, u, 0, "bad character ' ' in host 'my host'");
	refused("a/b:9000", 0, u, 0, "bad character '/' in host 'a/b'");
	refused("*:9000", 0, u, 0, "'*' (every address) is not accepted here");
	ok("*:9000", SHIM_SOCK_ANY, u);
	std::string longh(SHIM_SOCK_HOST_MAX, 'h');
	refused((longh + ":1").c_str(), 0, u, 0, "the host is longer than 255 bytes");
	longh.resize(SHIM_SOCK_HOST_MAX - 1);
	parsed p = ok((longh + ":1").c_str(), 0, u);
	assert_int_equal(strlen(p.spec.host), SHIM_SOCK_HOST_MAX - 1);

	// a NUL inside the text given with a length
	shim_sockspec s{};
	s.size = sizeof s;
	char err[128];
	assert_int_equal(shim_sockspec_parse("a\0b:1", 5, 0, u, 0, &s, err, sizeof err), -1);
	assert_string_equal(err, "bad character 0x00 in host");
	// only `len` bytes are read
	assert_int_equal(shim_sockspec_parse("1.2.3.4:80xyz", 10, 0, u, 0, &s, err, sizeof err), 0);
	assert_int_equal(s.port, 80);
	// a NULL text, a too small or absent error buffer
	assert_int_equal(shim_sockspec_parse(nullptr, 3, 0, u, 0, &s, err, sizeof err), -1);
	assert_string_equal(err, "empty socket");
	char small[8];
	assert_int_equal(shim_sockspec_parse("x", -1, 0, u, 0, &s, small, sizeof small), -1);
	assert_string_equal(small, "missing");
	assert_int_equal(shim_sockspec_parse("x", -1, 0, u, 0, &s, nullptr, 0), -1);
}

void test_unix_paths(void **)
{
	parsed p = ok("/tmp/a.sock", 0, SHIM_PROTO_UNIX);
	assert_string_equal(p.spec.path, "/tmp/a.sock");
	// the rest is the path, colons and all
	p = ok("/tmp/a:b", 0, SHIM_PROTO_UNIX);
	assert_string_equal(p.spec.path, "/tmp/a:b");
	std::string longp = "/" + std::string(SHIM_SOCK_PATH_MAX - 2, 'x');
	p = ok(longp.c_str(), 0, SHIM_PROTO_UNIX);
	assert_int_equal(strlen(p.spec.path), SHIM_SOCK_PATH_MAX - 1);
	longp += "x";
	refused(longp.c_str(), 0, SHIM_PROTO_UNIX, 0,
	        "the path is 108 bytes long, at most 107 are possible");
	shim_sockspec s{};
	s.size = sizeof s;
	char err[128];
	assert_int_equal(shim_sockspec_parse("/a\0b", 4, 0, SHIM_PROTO_UNIX, 0, &s, err, sizeof err),
	                 -1);
	assert_string_equal(err, "the path contains a NUL byte");
}

void test_size_checked(void **)
{
	shim_sockspec s{};
	char err[200];
	s.size = sizeof s - 4; // a module built against other headers
	assert_int_equal(shim_sockspec_parse("1.2.3.4:5", -1, 0, SHIM_PROTO_UDP, 0, &s, err,
	                                     sizeof err),
	                 -1);
	assert_non_null(strstr(err, "struct shim_sockspec of"));
	assert_non_null(strstr(err, "rebuild the module"));
	sockaddr_storage a;
	socklen_t l;
	assert_int_equal(shim_sockspec_resolve(&s, 0, &a, &l, err, sizeof err), -1);
	assert_non_null(strstr(err, "struct shim_sockspec of"));
	assert_int_equal(shim_sockspec_print(&s, 0, err, sizeof err), -1);
	assert_int_equal(shim_sockspec_parse("x:1", -1, 0, SHIM_PROTO_UDP, 0, nullptr, err,
	                                     sizeof err),
	                 -1);
	assert_int_equal(shim_sockspec_resolve(nullptr, 0, &a, &l, err, sizeof err), -1);
}

void test_print_truncates(void **)
{
	parsed p = ok("127.0.0.1:9000", 0, SHIM_PROTO_UDP);
	char buf[6];
	assert_int_equal(shim_sockspec_print(&p.spec, 1, buf, sizeof buf), 18);
	assert_string_equal(buf, "udp:1");
	assert_int_equal(shim_sockspec_print(&p.spec, 0, nullptr, 0), 14);
}

// ---- resolution ----

void test_resolve_literals_without_lookup(void **)
{
	unsigned long before = lookups();
	sockaddr_storage a;
	socklen_t l = 0;
	char err[128];
	parsed p = ok("127.0.0.1:9000", 0, SHIM_PROTO_UDP);
	assert_int_equal(shim_sockspec_resolve(&p.spec, SHIM_RESOLVE_IPV4, &a, &l, err, sizeof err), 0);
	assert_int_equal(a.ss_family, AF_INET);
	assert_int_equal(l, sizeof(sockaddr_in));
	assert_string_equal(ip_of(a).c_str(), "127.0.0.1");
	assert_int_equal(port_of(a), 9000);

	p = ok("[::1]:9001", 0, SHIM_PROTO_TCP);
	assert_int_equal(shim_sockspec_resolve(&p.spec, 0, &a, &l, err, sizeof err), 0);
	assert_int_equal(a.ss_family, AF_INET6);
	assert_int_equal(l, sizeof(sockaddr_in6));
	assert_string_equal(ip_of(a).c_str(), "::1");
	assert_int_equal(port_of(a), 9001);
	// IPv4 only: an IPv6 literal is refused
	assert_int_equal(shim_sockspec_resolve(&p.spec, SHIM_RESOLVE_IPV4, &a, &l, err, sizeof err),
	                 -1);
	assert_string_equal(err, "'::1' is an IPv6 address: only IPv4 is supported here");

	p = ok("*:8080", SHIM_SOCK_ANY, SHIM_PROTO_UDP);
	assert_int_equal(shim_sockspec_resolve(&p.spec, 0, &a, &l, err, sizeof err), 0);
	assert_int_equal(a.ss_family, AF_INET);
	assert_string_equal(ip_of(a).c_str(), "0.0.0.0");
	assert_int_equal(port_of(a), 8080);
	assert_int_equal(lookups(), before);
}

void test_resolve_unix(void **)
{
	parsed p = ok("/tmp/x.sock", 0, SHIM_PROTO_UNIX);
	sockaddr_storage a;
	socklen_t l = 0;
	char err[128];
	assert_int_equal(shim_sockspec_resolve(&p.spec, SHIM_RESOLVE_IPV4, &a, &l, err, sizeof err), 0);
	auto &sun = (const sockaddr_un &)a;
	assert_int_equal(sun.sun_family, AF_UNIX);
	assert_string_equal(sun.sun_path, "/tmp/x.sock");
	assert_int_equal(l, offsetof(sockaddr_un, sun_path) + strlen("/tmp/x.sock") + 1);
}

void test_resolve_names_are_counted(void **)
{
	sockaddr_storage a;
	socklen_t l = 0;
	char err[200];
	unsigned long before = lookups();
	parsed p = ok("localhost:9902", 0, SHIM_PROTO_UDP);
	assert_int_equal(shim_sockspec_resolve(&p.spec, SHIM_RESOLVE_IPV4, &a, &l, err, sizeof err), 0);
	assert_int_equal(a.ss_family, AF_INET);
	assert_int_equal(l, sizeof(sockaddr_in));
	assert_int_equal(ntohl(((const sockaddr_in &)a).sin_addr.s_addr) >> 24, 127);
	assert_int_equal(port_of(a), 9902);
	assert_int_equal(lookups(), before + 1);
	// any family
	assert_int_equal(shim_sockspec_resolve(&p.spec, 0, &a, &l, err, sizeof err), 0);
	assert_true(a.ss_family == AF_INET || a.ss_family == AF_INET6);
	assert_int_equal(port_of(a), 9902);
	assert_int_equal(lookups(), before + 2);
	// a failed lookup is counted too, and says why
	p = ok("no-such-host.invalid:1", 0, SHIM_PROTO_UDP);
	assert_int_equal(shim_sockspec_resolve(&p.spec, SHIM_RESOLVE_IPV4, &a, &l, err, sizeof err),
	                 -1);
	assert_true(strncmp(err, "cannot resolve 'no-such-host.invalid': ", 39) == 0);
	assert_int_equal(lookups(), before + 3);
}

void test_resolve_slow_lookup_measured(void **)
{
	// exec_dns_threshold sees a module's lookup (dns:dns_slow_queries)
	unsigned long slow = get_stat_val(g_slow);
	shim::g_globals.exec_dns_threshold = 1000; // µs
	shim_set_resolve_delay_for_tests(3000);
	parsed p = ok("localhost:9902", 0, SHIM_PROTO_TCP);
	sockaddr_storage a;
	socklen_t l = 0;
	char err[128];
	int rc = shim_sockspec_resolve(&p.spec, SHIM_RESOLVE_IPV4, &a, &l, err, sizeof err);
	shim_set_resolve_delay_for_tests(0);
	shim::g_globals.exec_dns_threshold = 0;
	assert_int_equal(rc, 0);
	assert_int_equal(get_stat_val(g_slow), slow + 1);
}

} // namespace

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inet_forms),
		cmocka_unit_test(test_default_port),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_bare_path),
		cmocka_unit_test(test_tail),
		cmocka_unit_test(test_inet_errors),
		cmocka_unit_test(test_unix_paths),
		cmocka_unit_test(test_size_checked),
		cmocka_unit_test(test_print_truncates),
		cmocka_unit_test(test_resolve_literals_without_lookup),
		cmocka_unit_test(test_resolve_unix),
		cmocka_unit_test(test_resolve_names_are_counted),
		cmocka_unit_test(test_resolve_slow_lookup_measured),
	};
	return cmocka_run_group_tests(tests, setup, nullptr);
}
