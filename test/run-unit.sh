#!/bin/sh
# Runs each cmocka unit-test binary given as an argument and counts the
# tests from cmocka's own summary lines:
#   [  PASSED  ] N test(s).
#   [  FAILED  ] N test(s), listed below:
# A binary that exits non-zero without reporting a failure (crash, sanitizer
# report, timeout) counts as one failed test. The last line printed is
# `N passed, N failed`; the exit status is non-zero if anything failed.
#
#   sh test/run-unit.sh build/unit/test_a build/unit/sub/test_b ...

UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}
passed=0
failed=0
tmp=$(mktemp "${TMPDIR:-/tmp}/run-unit.XXXXXX") || exit 2
trap 'rm -f "$tmp"' EXIT INT TERM

if command -v timeout >/dev/null 2>&1; then
	TIMEOUT="timeout $UNIT_TIMEOUT"
else
	TIMEOUT=""
fi

for bin in "$@"; do
	if [ ! -x "$bin" ]; then
		echo "FAIL $bin: not found or not executable"
		failed=$((failed + 1))
		continue
	fi
	$TIMEOUT "$bin" >"$tmp" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s).*/\1/p' "$tmp" |
		awk '{s += $1} END {print s + 0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s).*/\1/p' "$tmp" |
		awk '{s += $1} END {print s + 0}')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# crashed, aborted by a sanitizer, or timed out (124)
		f=1
		echo "FAIL $bin: exit status $rc without a cmocka failure report"
		tail -n 40 "$tmp" | sed 's/^/    /'
	elif [ "$f" -gt 0 ]; then
		echo "FAIL $bin: $p passed, $f failed"
		grep -E '^\[  (FAILED|  ERROR)|^\[  ERROR|error:|Failure!' "$tmp" |
			sed 's/^/    /'
	else
		echo "ok   $bin: $p passed"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

echo "unit: $# binaries"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
