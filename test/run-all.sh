#!/bin/sh
# Runs the unit-test binaries given as arguments (test/run-unit.sh), then the
# system tests (test/system/run.py, binary taken from $BUILD), and prints one
# combined last line `N passed, N failed`. The exit status is non-zero if a
# test failed or a runner crashed (no summary line).
#
#   BUILD=build sh test/run-all.sh build/unit/...

BUILD=${BUILD:-build}
export BUILD
here=$(dirname "$0")
PYTHON=${PYTHON:-python3}
tmp=$(mktemp "${TMPDIR:-/tmp}/run-all.XXXXXX") || exit 2
trap 'rm -f "$tmp"' EXIT INT TERM

total_p=0
total_f=0
crashed=0

# $1 = runner name; reads its output in $tmp, adds its last summary line.
tally() {
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp" | tail -n 1)
	if [ -z "$line" ]; then
		echo "run-all: $1 printed no summary line (crashed?)"
		crashed=1
		return
	fi
	p=${line%% passed*}
	f=${line#*, }
	f=${f%% failed}
	total_p=$((total_p + p))
	total_f=$((total_f + f))
}

echo "== unit tests ($BUILD)"
sh "$here/run-unit.sh" "$@" 2>&1 | tee "$tmp"
tally unit

echo "== layering (tools/check-layering.py: no folder cycle in core_shim/)"
"$PYTHON" "$here/../tools/check-layering.py" 2>&1 | tee "$tmp"
tally layering

echo "== system tests ($BUILD)"
"$PYTHON" "$here/system/run.py" 2>&1 | tee "$tmp"
tally system

echo "== total"
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ] && [ "$crashed" -eq 0 ]
