#!/usr/bin/env bash
# Measures what make test compiles on a new machine: each part of its
# builds on an empty Go build cache and an empty staticcheck cache (in a
# temporary directory, removed at the end; the module cache is kept, so no
# download is counted), every part after the ones before it, as make test
# runs them. Prints each part's wall-clock and CPU seconds. Runs no test.
#
#	scripts/cold-build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null || true; rm -rf "$tmp"' EXIT
export GOCACHE=$tmp/gocache XDG_CACHE_HOME=$tmp/xdg
mkdir -p "$GOCACHE" "$XDG_CACHE_HOME"
# The same split as scripts/test.sh.
RACE_PATTERN=${RACE_PATTERN:-'/internal/(probe|load|ui|tune)(/|$)|/sampleapp(/|$)'}
all=$($GO list ./...)
race=$(grep -E "$RACE_PATTERN" <<<"$all" || true)
plain=$(grep -vE "$RACE_PATTERN" <<<"$all" || true)

# part NAME COMMAND...: runs the command and prints its times.
part() {
	local name=$1 TIMEFORMAT
	shift
	TIMEFORMAT="$name: %R s wall, %U s user + %S s system CPU"
	time "$@" >"$tmp/out" 2>&1 || {
		cat "$tmp/out"
		return 1
	}
}

# shellcheck disable=SC2086
part "test binaries without the race detector" $GO test -vet=off -count=1 -run '^$' $plain
# shellcheck disable=SC2086
part "test binaries with the race detector" $GO test -vet=off -count=1 -race -run '^$' $race
part "go vet" $GO vet ./...
part "staticcheck (its own build included)" $GO tool staticcheck ./...
part "fuzz targets' builds (and 1 s of fuzzing each)" scripts/fuzz.sh 1s
