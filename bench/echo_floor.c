/* bench/echo_floor.c: the loopback floor of bench/sbs.py (issue 13).
 *
 * Two threads share one UDP socket and answer every datagram with a fixed
 * 200-byte SIP reply that carries the request's Call-ID (the load
 * generator matches replies by Call-ID): no parsing beyond finding that
 * header, no routing, one recvfrom and one sendto per request. What a SIP
 * server on this machine could answer at best.
 *
 *   echo_floor PORT        (127.0.0.1:PORT; ends on SIGTERM/SIGINT)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY_SIZE 200

static int g_fd;

static void *serve(void *arg)
{
	(void)arg;
	char in[65536], out[512];
	static const char head[] = "SIP/2.0 200 OK\r\nCall-ID: ";
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		ssize_t n = recvfrom(g_fd, in, sizeof in - 1, 0, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			continue;
		in[n] = '\0';
		const char *cid = memmem(in, (size_t)n, "\nCall-ID:", 9);
		size_t cl = 0;
		if (cid) {
			cid += 9;
			while (*cid == ' ')
				cid++;
			while (cid[cl] && cid[cl] != '\r' && cid[cl] != '\n')
				cl++;
		}
		if (cl > 100)
			cl = 100;
		size_t len = sizeof head - 1;
		memcpy(out, head, len);
		memcpy(out + len, cid ? cid : "", cl);
		len += cl;
		/* padded with a header to a fixed size, then the empty line */
		static const char pad_name[] = "\r\nX-Pad: ";
		memcpy(out + len, pad_name, sizeof pad_name - 1);
		len += sizeof pad_name - 1;
		while (len < REPLY_SIZE - 4)
			out[len++] = 'x';
		memcpy(out + len, "\r\n\r\n", 4);
		len += 4;
		sendto(g_fd, out, len, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: echo_floor PORT\n");
		return 2;
	}
	g_fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (g_fd < 0 || bind(g_fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("echo_floor: bind");
		return 1;
	}
	int buf = 4 << 20;
	setsockopt(g_fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, serve, NULL);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGINT);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	int sig;
	sigwait(&s, &sig);
	return 0;
}
