// regcomp() with a guard against patterns that make glibc's compiler blow up.
//
// glibc expands `x+` and `x{m,n}` by duplicating the tree of `x`, so stacked
// or nested duplicating quantifiers ("a++++...", "((a+)+)+") double the
// memory per level: 20 levels take ~700 MB. A pattern built from message
// data at run time (`$rU =~ $avp(re)`) must not be able to do that, so such
// patterns are refused before regcomp runs (fuzzing found it: docs/
// fuzzing.md, cfg-1).
#pragma once

#include <regex.h>

#include <string>

namespace shim {

// Limits: pattern length, group nesting, repetition bounds, and the growth
// of duplicating quantifiers applied to groups or to other repetitions.
constexpr size_t kRegexMaxLen = 4096;
constexpr int kRegexMaxNesting = 32;
// Product of the copy counts of repetitions applied to groups or to
// repetitions (an atom's own repetition is linear and not counted).
constexpr double kRegexMaxGrowth = 4096;
// Largest {m,n} bound.
constexpr long kRegexMaxRepeat = 1000;

// Returns regcomp()'s result, or REG_ESPACE without calling it when the
// pattern is over the limits (*why says which, when given).
int regcomp_guarded(regex_t *re, const char *pattern, int cflags,
                    std::string *why = nullptr);

} // namespace shim
