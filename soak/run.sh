#!/bin/sh
# soak/run.sh: `make soak` (not part of `make test`). See soak/README.md.
#
# Environment: BUILD (default build), SOAK_SECONDS (default 600), SOAK_RATE
# (OPTIONS/s, default 300), SOAK_KEEP=1 (keep the run directory).
# Exit status: 0 when the run met its bounds (every OPTIONS answered, no MI
# error, RSS growth <= 5%, no host ERROR line, host alive), 1 otherwise.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if ! command -v sipp >/dev/null 2>&1; then
	echo "soak: sipp is missing (apt-get install sip-tester)" >&2
	exit 2
fi
exec python3 "$ROOT/soak/soak.py" "$@"
