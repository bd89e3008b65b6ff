// bench/evi_payload_bench.cc: the encode cost of one event, i.e. the
// host's evi_build_payload (core_shim/evi/evi_payload.cc, linked from
// build/libshim.a) called in a loop on a ~200-byte notification, as the
// EVI sender does for every udp/unix/tcp subscriber. Prints one line:
//   RESULT bytes=N iterations=N ns_per_event=X mb_per_s=Y
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "opensips/evi.h"
#include "opensips/evi_transport.h"

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 2000000;
	// the params of testmod:raise_burst: {"seq":<int>,"pad":"x"*150}, plus
	// a string with characters that need escaping, as log lines have
	static char pad[151];
	memset(pad, 'x', 150);
	static char msg[] = "line \"quoted\"\tend";
	evi_param_t p3{EVI_STR_VAL, {}, {(char *)"msg", 3}, nullptr};
	p3.val.s = {msg, (int)strlen(msg)};
	evi_param_t p2{EVI_STR_VAL, {}, {(char *)"pad", 3}, &p3};
	p2.val.s = {pad, 150};
	evi_param_t p1{EVI_INT_VAL, {}, {(char *)"seq", 3}, &p2};
	evi_params_t list{0, &p1, &p3};
	str method = {(char *)"E_BENCH", 7};
	char buf[1024];
	int len = 0;
	long sink = 0;
	// warm-up
	for (int i = 0; i < 10000; i++)
		sink += evi_build_payload(&list, &method, 0, nullptr, &method, buf,
		                          sizeof(buf));
	auto t0 = std::chrono::steady_clock::now();
	for (long i = 0; i < iters; i++) {
		p1.val.n = (int)i;
		len = evi_build_payload(&list, &method, 0, nullptr, &method, buf,
		                        sizeof(buf));
		sink += len + buf[len / 2];
	}
	double ns = std::chrono::duration<double, std::nano>(
	                std::chrono::steady_clock::now() - t0).count();
	if (len <= 0) {
		fprintf(stderr, "evi_build_payload failed\n");
		return 1;
	}
	printf("RESULT bytes=%d iterations=%ld ns_per_event=%.1f mb_per_s=%.0f sink=%ld\n",
	       len, iters, ns / (double)iters,
	       (double)len * (double)iters / (ns / 1e9) / 1e6, sink % 10);
	return 0;
}
