#!/usr/bin/env bash
# Runs the test suite: the packages whose goroutines matter with the race
# detector, the rest without, then each fuzz target for FUZZTIME. The private
# test stack (started on demand by the tests) is stopped at the end.
#
# Two lanes run at once, as the machine's time is mostly the end-to-end
# tests waiting (on windows, servers starting, load settling) in two
# packages whose tests run one after the other:
#   plain  the packages without the race detector (printed as they go)
#   other  with LINT=1 (make test) gofmt, go vet and staticcheck first, then
#          the race packages, then the fuzz targets (printed when done)
# LANES=1 runs them one after the other instead. Every check runs either
# way; the script fails if any did.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
export GO
# Packages with concurrency of their own: probes run collectors concurrently,
# the load generator runs workers, the UI receives async results, sampleapp
# serves requests.
RACE_PATTERN=${RACE_PATTERN:-'/internal/(probe|load|ui|tune)(/|$)|/sampleapp(/|$)'}
FUZZTIME=${FUZZTIME:-3s}
LINT=${LINT:-0}
LANES=${LANES:-2}

logs=$(mktemp -d)
other_pid=""
cleanup() {
	if [ -n "$other_pid" ]; then kill "$other_pid" 2>/dev/null || true; fi
	$GO run ./cmd/advisor stack down --test --quiet || true
	rm -rf "$logs"
}
trap cleanup EXIT

all=$($GO list ./...)
race=$(echo "$all" | grep -E "$RACE_PATTERN" || true)
plain=$(echo "$all" | grep -vE "$RACE_PATTERN" || true)

# elapsed runs a command and says how long it took, for the CI log.
elapsed() {
	local what=$1 start=$SECONDS rc=0
	shift
	"$@" || rc=1
	echo "test.sh: $what: $((SECONDS - start)) s$([ $rc -eq 0 ] || echo ', FAILED')"
	return $rc
}

lint() {
	local unformatted
	unformatted=$(gofmt -l .)
	if [ -n "$unformatted" ]; then
		echo "gofmt would change:"
		echo "$unformatted"
		return 1
	fi
	$GO vet ./... && $GO tool staticcheck ./...
}

plain_lane() {
	[ -n "$plain" ] || return 0
	# shellcheck disable=SC2086
	elapsed "tests" $GO test -count=1 -timeout 15m $plain
}

other_lane() {
	local st=0
	if [ "$LINT" = "1" ]; then
		elapsed "lint (gofmt, go vet, staticcheck)" lint || st=1
	fi
	if [ -n "$race" ]; then
		# shellcheck disable=SC2086
		elapsed "tests with the race detector" $GO test -count=1 -race -timeout 20m $race || st=1
	fi
	if [ "$FUZZTIME" != "0" ]; then
		elapsed "fuzz targets ($FUZZTIME each)" scripts/fuzz.sh "$FUZZTIME" || st=1
	fi
	return $st
}

status=0
if [ "$LANES" = "1" ]; then
	plain_lane || status=1
	other_lane || status=1
else
	other_lane >"$logs/other" 2>&1 &
	other_pid=$!
	plain_lane || status=1
	wait "$other_pid" || status=1
	other_pid=""
	echo "--- lint, race detector and fuzz targets (ran alongside):"
	cat "$logs/other"
fi

if [ $status -eq 0 ]; then
	echo "make test: all packages passed"
else
	echo "make test: FAILED" >&2
fi
exit $status
