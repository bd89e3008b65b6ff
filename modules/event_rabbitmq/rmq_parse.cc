// The two texts event_rabbitmq reads: an event socket and a server_id.
#include <amqp.h>

#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "opensips/net.h"

#include "rmq.h"

namespace rmq {

namespace {

std::string trim(const std::string &s)
{
	size_t b = 0, e = s.size();
	while (b < e && isspace((unsigned char)s[b]))
		b++;
	while (e > b && isspace((unsigned char)s[e - 1]))
		e--;
	return s.substr(b, e - b);
}

std::vector<std::string> split(const std::string &s, char sep)
{
	std::vector<std::string> out;
	size_t start = 0;
	for (;;) {
		size_t p = s.find(sep, start);
		out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
		if (p == std::string::npos)
			return out;
		start = p + 1;
	}
}

bool parse_int(const std::string &v, int min, int max, int &out)
{
	if (v.empty())
		return false;
	char *end = nullptr;
	errno = 0;
	long n = strtol(v.c_str(), &end, 10);
	if (errno || *end || n < min || n > max)
		return false;
	out = (int)n;
	return true;
}

const char *tls_refusal =
	"TLS to the broker is not supported by this host (it needs tls_mgm's "
	"client domains); connect over plain AMQP on a trusted network";

// host[:port] or [v6][:port], through the host's one socket parser.
bool parse_hostport(const std::string &hp, target &t, std::string &err)
{
	struct shim_sockspec spec {};
	spec.size = sizeof spec;
	char e[256];
	if (shim_sockspec_parse(hp.c_str(), (int)hp.size(), 0, SHIM_PROTO_TCP, 5672, &spec, e,
	                        sizeof e) < 0) {
		err = e;
		return false;
	}
	t.host = spec.host;
	t.port = spec.port;
	return true;
}

} // namespace

bool parse_socket(const char *s, int len, target &t, std::string &err)
{
	if (!s || len <= 0) {
		err = "empty socket";
		return false;
	}
	std::string text(s, (size_t)len);
	if (text.find('\0') != std::string::npos) {
		err = "NUL byte in the socket";
		return false;
	}
	size_t slash = text.find('/');
	if (slash == std::string::npos) {
		err = "missing '/' before the routing key";
		return false;
	}
	std::string left = text.substr(0, slash), right = text.substr(slash + 1);
	size_t at = left.rfind('@');
	if (at != std::string::npos) {
		std::string ui = left.substr(0, at);
		left = left.substr(at + 1);
		size_t colon = ui.find(':');
		t.user = ui.substr(0, colon);
		t.password = colon == std::string::npos ? std::string() : ui.substr(colon + 1);
		if (t.user.empty()) {
			err = "empty user name before '@'";
			return false;
		}
	}
	if (left.empty()) {
		err = "missing host";
		return false;
	}
	if (!parse_hostport(left, t, err))
		return false;
	std::string params;
	size_t q = right.find('?');
	if (q != std::string::npos) {
		params = right.substr(0, q);
		t.routing_key = right.substr(q + 1);
	} else {
		t.routing_key = right;
	}
	for (const std::string &raw : split(params, ';')) {
		std::string p = trim(raw);
		if (p.empty())
			continue;
		size_t eq = p.find('=');
		std::string k = trim(p.substr(0, eq));
		std::string v = eq == std::string::npos ? std::string() : trim(p.substr(eq + 1));
		if (k == "exchange" && eq != std::string::npos) {
			t.exchange = v;
		} else if (k == "persistent" && eq == std::string::npos) {
			t.persistent = true;
		} else if (k == "tls_domain") {
			err = tls_refusal;
			return false;
		} else {
			err = "unknown parameter '" + p + "' (known: exchange=NAME, persistent)";
			return false;
		}
	}
	if (t.routing_key.empty()) {
		err = "empty routing key";
		return false;
	}
	if (t.routing_key.size() > 255 || t.exchange.size() > 255) {
		err = "routing key and exchange are at most 255 bytes";
		return false;
	}
	// Events are published mandatory: one no queue takes comes back and
	// counts as failed, not as delivered.
	t.mandatory = true;
	return true;
}

bool parse_server_id(const char *s, std::string &id, target &t, std::string &err)
{
	std::string text = s ? s : "";
	size_t b = 0;
	while (b < text.size() && isspace((unsigned char)text[b]))
		b++;
	if (b >= text.size() || text[b] != '[') {
		err = "expected '[ID]' first";
		return false;
	}
	size_t e = text.find(']', b);
	if (e == std::string::npos) {
		err = "missing ']' after the id";
		return false;
	}
	id = trim(text.substr(b + 1, e - b - 1));
	if (id.empty()) {
		err = "empty id";
		return false;
	}
	t.persistent = true; // server_id messages are persistent unless told
	bool have_uri = false;
	for (const std::string &raw : split(text.substr(e + 1), ';')) {
		std::string p = trim(raw);
		if (p.empty())
			continue;
		size_t eq = p.find('=');
		std::string k = trim(p.substr(0, eq));
		std::string v = eq == std::string::npos ? std::string() : trim(p.substr(eq + 1));
		bool valued = eq != std::string::npos;
		if (k == "uri" && valued) {
			std::vector<char> buf(v.begin(), v.end());
			buf.push_back('\0');
			struct amqp_connection_info ci;
			amqp_default_connection_info(&ci);
			if (amqp_parse_url(buf.data(), &ci) != AMQP_STATUS_OK) {
				err = "bad uri '" + v + "' (amqp://[user[:password]@]host[:port][/vhost])";
				return false;
			}
			if (ci.ssl) {
				err = tls_refusal;
				return false;
			}
			t.user = ci.user ? ci.user : "guest";
			t.password = ci.password ? ci.password : "guest";
			t.host = ci.host ? ci.host : "localhost";
			t.port = ci.port;
			t.vhost = ci.vhost && *ci.vhost ? ci.vhost : "/";
			have_uri = true;
		} else if (k == "frames" && valued) {
			if (!parse_int(v, 4096, INT_MAX, t.frame_max)) {
				err = "frames must be a number of bytes, at least 4096";
				return false;
			}
		} else if (k == "retries" && valued) {
			int n;
			if (!parse_int(v, 0, INT_MAX, n)) {
				err = "retries must be a number";
				return false;
			}
			// accepted: the link reconnects by itself, with backoff
		} else if (k == "exchange" && valued) {
			t.exchange = v;
		} else if (k == "heartbeat" && valued) {
			if (!parse_int(v, 0, 65535, t.heartbeat)) {
				err = "heartbeat must be a number of seconds";
				return false;
			}
		} else if (k == "immediate" && !valued) {
			t.immediate = true;
		} else if (k == "mandatory" && !valued) {
			t.mandatory = true;
		} else if (k == "non-persistent" && !valued) {
			t.persistent = false;
		} else if (k == "tls_domain") {
			err = tls_refusal;
			return false;
		} else {
			err = "unknown parameter '" + p + "'";
			return false;
		}
	}
	if (!have_uri) {
		err = "missing uri = amqp://...";
		return false;
	}
	return true;
}

} // namespace rmq
