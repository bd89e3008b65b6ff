// Shared by the fuzz targets (test/fuzz/fuzz_*.cc).
//
// Each target defines its entry point with FUZZ_TARGET(name). Built by clang
// with -fsanitize=fuzzer (make fuzz) it is libFuzzer's
// LLVMFuzzerTestOneInput; built by g++ into the regression driver
// (test/unit/fuzz/test_regressions.cc, -DSHIM_FUZZ_DRIVER) it is
// shim_fuzz_<name>, so all targets link into one binary that replays
// test/fuzz/regressions/ and test/fuzz/corpus/ in `make test`.
//
// Rules for a target: deterministic, no network, no files written, no state
// kept from one input to the next (reset what the code under test keeps),
// and abort() on a broken invariant so both drivers report it.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef SHIM_FUZZ_DRIVER
#define FUZZ_TARGET(name)                                                     \
	extern "C" int shim_fuzz_##name(const uint8_t *data, size_t size)
#else
#define FUZZ_TARGET(name)                                                     \
	extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif

// A broken invariant: print it and abort (libFuzzer saves the input; the
// regression driver's cmocka test fails through the abort).
#define FUZZ_CHECK(cond, ...)                                                 \
	do {                                                                      \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: fuzz check failed: %s: ", __FILE__,       \
			        __LINE__, #cond);                                         \
			fprintf(stderr, __VA_ARGS__);                                     \
			fputc('\n', stderr);                                              \
			abort();                                                          \
		}                                                                     \
	} while (0)

// Reads bytes off the front of the input (for targets that build structured
// values from it). Past the end every read gives 0.
struct fuzz_reader {
	const uint8_t *p;
	size_t n;
	bool empty() const { return n == 0; }
	uint8_t byte()
	{
		if (!n) return 0;
		n--;
		return *p++;
	}
	uint32_t u32()
	{
		uint32_t v = 0;
		for (int i = 0; i < 4; i++) v = (v << 8) | byte();
		return v;
	}
	// Up to `max` bytes, length taken from the next byte.
	size_t take(size_t max, const uint8_t **out)
	{
		size_t len = byte();
		if (len > max) len = max;
		if (len > n) len = n;
		*out = p;
		p += len;
		n -= len;
		return len;
	}
};
