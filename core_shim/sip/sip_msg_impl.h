// Internal layout of a SIP message. Modules see `struct sip_msg` as opaque
// (include/opensips/sip_msg.h); the host's parser, script engine and
// workers use these fields directly.
#pragma once

#include "settings/socket-t.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "opensips/sip_msg.h"
#include "opensips/str.h"

namespace shim {

// The Via lines of a message: a few inline, more spill to the heap, so
// parsing an ordinary request allocates nothing (it runs per message on
// the SIP workers).
class str_list {
public:
	void clear()
	{
		n_ = 0;
		more_.clear();
	}
	void push_back(const str &s)
	{
		if (n_ < kInline)
			inline_[n_++] = s;
		else
			more_.push_back(s);
	}
	size_t size() const { return n_ + more_.size(); }
	bool empty() const { return n_ == 0; }
	const str &operator[](size_t i) const
	{
		return i < kInline ? inline_[i] : more_[i - kInline];
	}
	struct iterator {
		const str_list *l;
		size_t i;
		const str &operator*() const { return (*l)[i]; }
		iterator &operator++()
		{
			i++;
			return *this;
		}
		bool operator!=(const iterator &o) const { return i != o.i; }
	};
	iterator begin() const { return {this, 0}; }
	iterator end() const { return {this, size()}; }

private:
	static constexpr size_t kInline = 8;
	str inline_[kInline];
	size_t n_ = 0;
	std::vector<str> more_;
};

// A listening SIP socket as configured by `socket = proto:ip:port`.

// Sends `len` bytes back to where the message came from. 0 / -1.
using sip_send_f = int (*)(struct sip_msg *msg, const char *buf, int len);

} // namespace shim

// The struct is in the global namespace because the C ABI names it.
struct sip_msg {
	unsigned int id = 0;
	const char *buf = nullptr; // the received bytes, owned by the receiver
	int len = 0;

	// First line. Only requests are routed; replies are dropped.
	int is_request = 0;
	str method{nullptr, 0};
	str ruri{nullptr, 0};
	str ruri_user{nullptr, 0};  // user part of the R-URI, may be empty
	str version{nullptr, 0};    // "SIP/2.0"

	// Headers kept (values trimmed, pointing into buf). `vias` holds each
	// Via header's full line ("Via: SIP/2.0/UDP ...") without CRLF, in order.
	shim::str_list vias;
	str from_line{nullptr, 0}, to_line{nullptr, 0}, callid_line{nullptr, 0},
	    cseq_line{nullptr, 0};      // full header lines, no CRLF
	str from{nullptr, 0}, to{nullptr, 0}, callid{nullptr, 0},
	    cseq{nullptr, 0};           // header values
	str from_tag{nullptr, 0}, to_tag{nullptr, 0};
	str cseq_method{nullptr, 0};
	int cseq_num = 0;
	int content_length = -1;       // -1 when absent
	int max_forwards = -1;         // -1 when absent
	str body{nullptr, 0};

	// Where it came from and on which local socket.
	sockaddr_storage src{};
	socklen_t src_len = 0;
	char src_ip[64] = {0};
	int src_port = 0;
	const shim::sip_socket *rcv = nullptr;
	shim::sip_send_f send = nullptr;
	void *send_ctx = nullptr;      // transport private data

	int replied = 0;               // a reply was sent
	// Why sip_parse() refused the message (shim::sip_parse_error).
	int parse_error = 0;
};
