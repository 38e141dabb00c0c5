#!/usr/bin/env bash
# Runs the test suite: the packages whose goroutines matter with the race
# detector, the rest without, then each fuzz target for FUZZTIME. The private
# test stack (started on demand by the tests) is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
# Packages with concurrency of their own: probes run collectors concurrently,
# the load generator runs workers, the UI receives async results, sampleapp
# serves requests.
RACE_PATTERN=${RACE_PATTERN:-'/internal/(probe|load|ui|tune)(/|$)|/sampleapp(/|$)'}
FUZZTIME=${FUZZTIME:-3s}

cleanup() { $GO run ./cmd/advisor stack down --test --quiet || true; }
trap cleanup EXIT

all=$($GO list ./...)
race=$(echo "$all" | grep -E "$RACE_PATTERN" || true)
plain=$(echo "$all" | grep -vE "$RACE_PATTERN" || true)

status=0
if [ -n "$plain" ]; then
	# shellcheck disable=SC2086
	$GO test -count=1 -timeout 15m $plain || status=1
fi
if [ -n "$race" ]; then
	# shellcheck disable=SC2086
	$GO test -count=1 -race -timeout 20m $race || status=1
fi

if [ "$FUZZTIME" != "0" ]; then
	scripts/fuzz.sh "$FUZZTIME" || status=1
fi

if [ $status -eq 0 ]; then
	echo "make test: all packages passed"
else
	echo "make test: FAILED" >&2
fi
exit $status
