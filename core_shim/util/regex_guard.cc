#include "util/regex_guard.h"

#include <string.h>

namespace shim {

int regcomp_guarded(regex_t *re, const char *pattern, int cflags,
                    std::string *why)
{
	size_t len = strlen(pattern);
	if (len > kRegexMaxLen) {
		if (why)
			*why = "regular expression longer than " +
			       std::to_string(kRegexMaxLen) + " bytes";
		return REG_ESPACE;
	}
	int depth = 0;
	double growth = 1;
	// what the previous token was: 0 atom/other, 1 quantifier, 2 group end
	int prev = 0;
	for (size_t i = 0; i < len; i++) {
		char c = pattern[i];
		if (c == '\\' && i + 1 < len) {
			i++;
			prev = 0;
			continue;
		}
		if (c == '[') { // a bracket expression is one atom
			size_t j = i + 1;
			if (j < len && pattern[j] == '^') j++;
			if (j < len && pattern[j] == ']') j++;
			while (j < len && pattern[j] != ']') j++;
			i = j;
			prev = 0;
			continue;
		}
		if (c == '(') {
			if (++depth > kRegexMaxNesting) {
				if (why)
					*why = "regular expression nests groups deeper than " +
					       std::to_string(kRegexMaxNesting);
				return REG_ESPACE;
			}
			prev = 0;
			continue;
		}
		if (c == ')') {
			if (depth > 0) depth--;
			prev = 2;
			continue;
		}
		bool dup = c == '+' || c == '{';
		bool quant = dup || c == '*' || c == '?';
		if (quant) {
			// how many copies of the repeated thing glibc makes
			double copies = 2;
			if (c == '{') {
				size_t j = i + 1;
				long hi = 0, n = 0;
				bool any = false;
				for (; j < len && pattern[j] != '}'; j++) {
					if (pattern[j] >= '0' && pattern[j] <= '9') {
						n = n * 10 + (pattern[j] - '0');
						if (n > 100000) n = 100000;
						any = true;
					} else if (pattern[j] == ',') {
						hi = n > hi ? n : hi;
						n = 0;
					}
				}
				hi = n > hi ? n : hi;
				if (any && hi > kRegexMaxRepeat) {
					if (why)
						*why = "regular expression repeats more than " +
						       std::to_string(kRegexMaxRepeat) + " times";
					return REG_ESPACE;
				}
				copies = (double)(hi > 1 ? hi : 2);
				i = j;
			}
			// Repeating an atom costs its copies once; repeating a group or
			// something already repeated multiplies the whole tree.
			if (dup && prev != 0) {
				growth *= copies;
				if (growth > kRegexMaxGrowth) {
					if (why)
						*why = "regular expression stacks too many repetitions "
						       "(each one multiplies the compiled size)";
					return REG_ESPACE;
				}
			}
			prev = 1;
			continue;
		}
		prev = 0;
	}
	return regcomp(re, pattern, cflags);
}

} // namespace shim
