#include "sip/sip_socket.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

namespace shim {

int sip_socket_bind(sip_socket &s, int type, int rcvbuf, std::string &err)
{
	addrinfo hints{}, *res = nullptr;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = type;
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	std::string port = std::to_string(s.port);
	int rc = getaddrinfo(s.ip.c_str(), port.c_str(), &hints, &res);
	if (rc != 0) {
		err = "cannot resolve socket " + s.text + ": " + gai_strerror(rc);
		return -1;
	}
	int fd = socket(res->ai_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		err = "socket(): " + std::string(strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		err = "cannot bind " + s.text + ": " + strerror(errno);
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	s.fd = fd;
	return 0;
}

} // namespace shim
