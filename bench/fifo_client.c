/* bench/fifo_client.c: MI over a FIFO for bench/sbs.py (issue 13), one
 * request at a time, as opensips-cli sends them (spec/clients.md).
 *
 *   fifo_client --fifo PATH --reply-dir DIR --mode cli|preopen
 *               [--duration S] [--warmup S] [--method M --params JSON]
 *               [--style opensips|kamailio]
 *
 * cli:     per request, as opensips-cli: mkfifo a reply FIFO (0666) in the
 *          reply directory, open the server FIFO, write
 *          `:<reply name>:<json-rpc>` in one write, close it, open the reply
 *          FIFO, read it to end of file, unlink it.
 *          When the server answers before the reply FIFO has a reader, its
 *          open fails and it retries later (the reference waits 80 ms):
 *          this order measures that race as well.
 * preopen: the server FIFO is opened once and the reply FIFO made once;
 *          per request the reply FIFO is opened for reading *before* the
 *          request is written, so the server's open always finds a reader.
 *
 * --style kamailio: Kamailio's jsonrpcs framing, the reply FIFO named in
 * the request's "reply_name" member instead of a `:name:` prefix.
 * The request is `sr_get_status ["core"]` unless --method/--params say.
 *
 * Prints one line: RESULT mode=cli rps=N ok=N err=N  (a reply without
 * "result" counts as an error; a request without a reply within 2 s ends
 * the run with err counted).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Reads fd to end of file into buf; -1 on a 2 s stall. */
static int read_all(int fd, char *buf, int cap)
{
	int len = 0;
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 2000) <= 0)
			return -1;
		ssize_t n = read(fd, buf + len, (size_t)(cap - 1 - len));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		len += (int)n;
		if (len >= cap - 1)
			break;
	}
	buf[len] = 0;
	return len;
}

/* Opens the reply FIFO for reading once the server has it open for
 * writing (O_NONBLOCK open, then wait for data or hang-up). */
static int open_reply(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	const char *fifo = NULL, *dir = NULL, *mode = "cli";
	const char *method = "sr_get_status", *params = "[\"core\"]", *style = "opensips";
	double duration = 4, warmup = 1;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--fifo")) fifo = argv[i + 1];
		else if (!strcmp(argv[i], "--reply-dir")) dir = argv[i + 1];
		else if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
		else if (!strcmp(argv[i], "--duration")) duration = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--warmup")) warmup = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--method")) method = argv[i + 1];
		else if (!strcmp(argv[i], "--params")) params = argv[i + 1];
		else if (!strcmp(argv[i], "--style")) style = argv[i + 1];
	}
	if (!fifo || !dir || (strcmp(mode, "cli") && strcmp(mode, "preopen"))) {
		fprintf(stderr, "usage: fifo_client --fifo PATH --reply-dir DIR "
		                "--mode cli|preopen [--duration S] [--warmup S]\n");
		return 2;
	}
	const int pre = !strcmp(mode, "preopen");
	char name[64], path[4096], req[512], reply[65536];
	snprintf(name, sizeof name, "bench_reply_%d", (int)getpid());
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int srv = -1;
	if (pre) {
		unlink(path);
		if (mkfifo(path, 0666) < 0 || (srv = open(fifo, O_WRONLY)) < 0) {
			perror("fifo_client");
			return 1;
		}
	}
	long ok = 0, err = 0, id = 0;
	double t_start = now_s(), t_measure = t_start + warmup, t_end = t_measure + duration;
	double t0 = 0;
	for (;;) {
		double t = now_s();
		if (t >= t_end)
			break;
		if (t >= t_measure && t0 == 0) {
			t0 = t;
			ok = err = 0;
		}
		if (!pre) {
			unlink(path);
			if (mkfifo(path, 0666) < 0) {
				err++;
				break;
			}
			chmod(path, 0666);
		}
		int len = strcmp(style, "kamailio")
		              ? snprintf(req, sizeof req,
		                         ":%s:{\"jsonrpc\":\"2.0\",\"method\":\"%s\","
		                         "\"params\":%s,\"id\":%ld}\n",
		                         name, method, params, ++id)
		              : snprintf(req, sizeof req,
		                         "{\"jsonrpc\":\"2.0\",\"method\":\"%s\","
		                         "\"params\":%s,\"reply_name\":\"%s\",\"id\":%ld}\n",
		                         method, params, name, ++id);
		int r = pre ? open_reply(path) : -1;
		int s = pre ? srv : open(fifo, O_WRONLY);
		if (s < 0 || write(s, req, (size_t)len) != len) {
			err++;
			break;
		}
		if (!pre) {
			close(s);
			r = open_reply(path);
		}
		int n = r < 0 ? -1 : read_all(r, reply, sizeof reply);
		if (r >= 0)
			close(r);
		if (!pre)
			unlink(path);
		if (n <= 0) {
			err++;
			break;
		}
		if (strstr(reply, "\"result\""))
			ok++;
		else
			err++;
	}
	double secs = now_s() - (t0 ? t0 : t_start);
	if (pre) {
		close(srv);
		unlink(path);
	}
	printf("RESULT mode=%s rps=%.0f ok=%ld err=%ld\n", mode, secs > 0 ? (double)ok / secs : 0,
	       ok, err);
	return 0;
}
