// Replays the fuzz inputs without libFuzzer: every file under
// test/fuzz/regressions/<target>/ (inputs that once crashed or broke an
// invariant) and test/fuzz/corpus/<target>/ (the seeds) is fed once to the
// target's entry point, compiled here by g++ from test/fuzz/fuzz_<target>.cc
// with -DSHIM_FUZZ_DRIVER (see the Makefile rule). A target aborts on a
// broken invariant and the sanitizer build reports memory errors, so a
// regression fails `make test` and its ASan run. Run from the repository
// root (as test/run-unit.sh does).
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../cmocka_cxx.h"

#define FUZZ_DECL(name) extern "C" int shim_fuzz_##name(const uint8_t *data, size_t size);
FUZZ_DECL(cfg)
FUZZ_DECL(jsonrpc)
FUZZ_DECL(mi_json)
FUZZ_DECL(sip)
FUZZ_DECL(fifo_framing)
FUZZ_DECL(http)
FUZZ_DECL(payload)

namespace {

using entry_f = int (*)(const uint8_t *, size_t);

std::vector<std::string> files_in(const std::string &dir)
{
	std::vector<std::string> out;
	DIR *d = opendir(dir.c_str());
	if (!d) return out;
	while (struct dirent *e = readdir(d))
		if (e->d_name[0] != '.') out.push_back(dir + "/" + e->d_name);
	closedir(d);
	std::sort(out.begin(), out.end());
	return out;
}

void replay(const char *target, entry_f f)
{
	int n = 0;
	for (const char *kind : {"regressions", "corpus"}) {
		for (const std::string &path :
		     files_in(std::string("test/fuzz/") + kind + "/" + target)) {
			std::ifstream in(path, std::ios::binary);
			assert_true(in.good());
			std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
			                           std::istreambuf_iterator<char>());
			// a heap copy of the exact size, as libFuzzer gives it
			uint8_t *copy = (uint8_t *)malloc(bytes.empty() ? 1 : bytes.size());
			std::copy(bytes.begin(), bytes.end(), copy);
			fprintf(stderr, "%s: %s\n", target, path.c_str());
			f(copy, bytes.size());
			free(copy);
			n++;
		}
	}
	fprintf(stderr, "%s: %d inputs replayed\n", target, n);
	assert_true(n > 0); // the corpus of every target is committed
}

#define REPLAY_TEST(name)                                                     \
	void name(void **) { replay(#name, shim_fuzz_##name); }
REPLAY_TEST(cfg)
REPLAY_TEST(jsonrpc)
REPLAY_TEST(mi_json)
REPLAY_TEST(sip)
REPLAY_TEST(fifo_framing)
REPLAY_TEST(http)
REPLAY_TEST(payload)

} // namespace

int main()
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cfg),  cmocka_unit_test(jsonrpc),      cmocka_unit_test(mi_json),
	    cmocka_unit_test(sip),  cmocka_unit_test(fifo_framing), cmocka_unit_test(http),
	    cmocka_unit_test(payload),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
