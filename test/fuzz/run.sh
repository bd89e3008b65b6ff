#!/bin/sh
# Runs the libFuzzer binaries of build-fuzz/ (make fuzz, make fuzz-regress).
#
#   sh test/fuzz/run.sh fuzz    SECONDS target...   fuzz each target
#   sh test/fuzz/run.sh regress target...           replay regressions once
#
# fuzz: each target runs for SECONDS (-max_total_time) on its committed
# corpus test/fuzz/corpus/<target>/ and its regressions, read-only: new
# inputs go to a temporary directory that is deleted afterwards. A crash,
# leak, sanitizer report or timeout fails the target; the input is saved
# under build-fuzz/crashes/<target>/ and the log under build-fuzz/logs/.
#
# Prints one line per target, then `N passed, N failed`; exits non-zero
# when a target failed.

FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
mode=$1
shift
if [ "$mode" = fuzz ]; then
	seconds=$1
	shift
fi
passed=0
failed=0
mkdir -p "$FUZZ_BUILD/logs"

for t in "$@"; do
	bin="$FUZZ_BUILD/fuzz_$t"
	log="$FUZZ_BUILD/logs/$t.log"
	if [ ! -x "$bin" ]; then
		echo "FAIL $t: $bin not built"
		failed=$((failed + 1))
		continue
	fi
	dirs=""
	for d in test/fuzz/corpus/$t test/fuzz/regressions/$t; do
		[ -d "$d" ] && [ -n "$(ls -A "$d")" ] && dirs="$dirs $d"
	done
	if [ "$mode" = regress ]; then
		files=$(find test/fuzz/regressions/$t -type f 2>/dev/null | sort)
		if [ -z "$files" ]; then
			echo "ok   $t: no regression inputs"
			passed=$((passed + 1))
			continue
		fi
		n=$(echo "$files" | wc -l)
		# files (not directories) as arguments: each is run once
		# shellcheck disable=SC2086
		if "$bin" -timeout=30 $files >"$log" 2>&1; then
			echo "ok   $t: $n regression inputs"
			passed=$((passed + 1))
		else
			echo "FAIL $t: a regression input fails (log: $log)"
			grep -E 'ERROR|fuzz check failed|Running:' "$log" | tail -n 5 | sed 's/^/    /'
			failed=$((failed + 1))
		fi
		continue
	fi
	crashes="$FUZZ_BUILD/crashes/$t"
	mkdir -p "$crashes"
	work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$t.XXXXXX") || exit 2
	# the first directory receives new inputs; the committed ones are only read
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$crashes/" \
		"$work" $dirs >"$log" 2>&1
	rc=$?
	rm -rf "$work"
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	if [ "$rc" -eq 0 ]; then
		echo "ok   $t: ${seconds}s, ${runs:-?} runs, ${eps:-?} exec/s, cov ${cov:-?}"
		passed=$((passed + 1))
	else
		art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		why=$(grep -m1 -E '^==[0-9]+==ERROR|fuzz check failed|runtime error|ALARM|out-of-memory' "$log" | cut -c1-160)
		echo "FAIL $t: exit $rc: ${why:-see $log}; input: ${art:-none}; log: $log"
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
