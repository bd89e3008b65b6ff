// split_blank and read_whole_file: the stream-free helpers start-up parses
// the configuration with.
#include "util/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../cmocka_cxx.h"

using namespace shim;

static void test_split_blank(void **)
{
	auto w = split_blank("  udp:127.0.0.1:5060\tas 1.2.3.4\r\n use_workers\f2\v");
	assert_int_equal(w.size(), 5);
	assert_string_equal(w[0].c_str(), "udp:127.0.0.1:5060");
	assert_string_equal(w[1].c_str(), "as");
	assert_string_equal(w[2].c_str(), "1.2.3.4");
	assert_string_equal(w[3].c_str(), "use_workers");
	assert_string_equal(w[4].c_str(), "2");
	assert_true(split_blank("").empty());
	assert_true(split_blank(" \t\n ").empty());
	w = split_blank("one");
	assert_int_equal(w.size(), 1);
	assert_string_equal(w[0].c_str(), "one");
	// bytes other than the six blanks are word characters, NUL included
	w = split_blank(std::string_view("a\0b c", 5));
	assert_int_equal(w.size(), 2);
	assert_int_equal(w[0].size(), 3);
}

static void test_read_whole_file(void **)
{
	char dir[] = "/tmp/shim-text-XXXXXX";
	assert_non_null(mkdtemp(dir));
	std::string path = std::string(dir) + "/f";
	// larger than one read() so the loop runs more than once
	std::string want;
	for (int i = 0; i < 5000; i++)
		want += "line " + std::to_string(i) + "\n";
	want.push_back('\0');
	want += "tail";
	FILE *f = fopen(path.c_str(), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(want.data(), 1, want.size(), f), want.size());
	fclose(f);
	std::string got = "stale";
	assert_true(read_whole_file(path, got));
	assert_true(got == want);
	// an empty file gives an empty string, not the previous content
	f = fopen(path.c_str(), "wb");
	fclose(f);
	assert_true(read_whole_file(path, got));
	assert_true(got.empty());
	unlink(path.c_str());
	errno = 0;
	assert_false(read_whole_file(path, got));
	assert_int_equal(errno, ENOENT);
	// a directory opens but cannot be read
	errno = 0;
	assert_false(read_whole_file(dir, got));
	assert_int_equal(errno, EISDIR);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_blank),
		cmocka_unit_test(test_read_whole_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
