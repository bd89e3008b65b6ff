#include "evi/evi_allow.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include <mutex>
#include <vector>

namespace shim {
namespace {

struct network {
	int family = AF_INET;
	unsigned char addr[16] = {0};
	int prefix = 0;
};

std::mutex g_mu;
std::vector<network> g_nets; // empty = any

bool parse_addr(const std::string &s, network &n)
{
	if (inet_pton(AF_INET, s.c_str(), n.addr) == 1) {
		n.family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s.c_str(), n.addr) == 1) {
		n.family = AF_INET6;
		return true;
	}
	return false;
}

bool in_network(const network &n, int family, const unsigned char *a)
{
	if (family != n.family)
		return false;
	int full = n.prefix / 8, rest = n.prefix % 8;
	if (memcmp(a, n.addr, (size_t)full) != 0)
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (n.addr[full] & mask);
}

std::string trim(const std::string &s)
{
	size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
	return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// The host part of "host:port[/method]" or "[v6]:port".
std::string host_of(const std::string &rest)
{
	if (!rest.empty() && rest[0] == '[') {
		size_t e = rest.find(']');
		return e == std::string::npos ? std::string() : rest.substr(1, e - 1);
	}
	size_t slash = rest.find('/');
	std::string hp = rest.substr(0, slash);
	size_t colon = hp.rfind(':');
	if (colon != std::string::npos && hp.find(':') == colon)
		return hp.substr(0, colon); // one colon: host:port
	return hp;                      // a bare IPv6 address or no port
}

} // namespace

int evi_allow_set(const std::string &spec, std::string &err)
{
	std::vector<network> nets;
	size_t pos = 0;
	while (pos <= spec.size()) {
		size_t comma = spec.find(',', pos);
		std::string item = trim(spec.substr(pos, comma == std::string::npos
		                                             ? std::string::npos
		                                             : comma - pos));
		pos = comma == std::string::npos ? spec.size() + 1 : comma + 1;
		if (item.empty())
			continue;
		network n;
		size_t slash = item.find('/');
		std::string addr = item.substr(0, slash);
		if (!parse_addr(addr, n)) {
			err = "bad network '" + item + "': expected an IP address or CIDR";
			return -1;
		}
		int max = n.family == AF_INET ? 32 : 128;
		n.prefix = max;
		if (slash != std::string::npos) {
			std::string p = item.substr(slash + 1);
			char *end = nullptr;
			long v = strtol(p.c_str(), &end, 10);
			if (p.empty() || *end || v < 0 || v > max) {
				err = "bad prefix length in '" + item + "'";
				return -1;
			}
			n.prefix = (int)v;
		}
		nets.push_back(n);
	}
	std::lock_guard<std::mutex> lk(g_mu);
	g_nets = std::move(nets);
	return 0;
}

bool evi_allow_socket(const std::string &proto, const std::string &rest)
{
	if (proto != "udp" && proto != "tcp")
		return true;
	std::vector<network> nets;
	{
		std::lock_guard<std::mutex> lk(g_mu);
		nets = g_nets;
	}
	if (nets.empty())
		return true;
	std::string host = host_of(rest);
	addrinfo hints{}, *res = nullptr;
	hints.ai_socktype = SOCK_DGRAM;
	if (host.empty() || getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0)
		return false;
	bool all_in = true, any = false;
	for (addrinfo *ai = res; ai; ai = ai->ai_next) {
		const unsigned char *a = nullptr;
		if (ai->ai_family == AF_INET)
			a = (const unsigned char *)&((sockaddr_in *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			a = (const unsigned char *)&((sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		if (!a)
			continue;
		any = true;
		bool in = false;
		for (const network &n : nets)
			if (in_network(n, ai->ai_family, a)) {
				in = true;
				break;
			}
		all_in = all_in && in;
	}
	freeaddrinfo(res);
	return any && all_in;
}

} // namespace shim
