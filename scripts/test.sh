#!/usr/bin/env bash
# Runs the test suite: the packages whose goroutines matter with the race
# detector, the rest without, then each fuzz target for FUZZTIME. The private
# test stack (started on demand by the tests) is stopped at the end.
#
# With LINT=1 (make test) gofmt, go vet and staticcheck run too, beside the
# plain tests at the lowest CPU priority; go test then leaves its own vet
# checks, a subset, to go vet. Every part says how long it took.
#
# LANES=2 runs two lanes at once, every check as with one:
#   plain  the packages without the race detector (printed as they go)
#   other  the lint, the race packages, the fuzz targets (printed when done)
# It saved a quarter of the time on a 2-core machine, but the end-to-end tests
# that need CPU to spare (sampleapp under load must serve enough requests in
# its window) then compete with compilers and the race detector, and failed
# that way on a busy machine: the default stays one lane after the other.
# With the second lane at nice 10 the plain lane kept its CPU and passed (a
# fresh clone in 479 s), but the race packages, starved, failed on their own
# timeouts (Prometheus queries, Redis dials, a worker's stop), 2026-12-06.
# Running the race build and the fuzz targets at idle priority beside the
# plain tests instead was tried from a fresh clone on a new 2-core machine:
# it passed but was no faster (18 min 59 s against 19 min 20 s).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
export GO
# SETUP=1 (make test) runs scripts/setup.sh --test first, while the
# packages are compiled beside it.
SETUP=${SETUP:-0}
# Packages with concurrency of their own: probes run collectors concurrently,
# the load generator runs workers, the UI receives async results, sampleapp
# serves requests.
RACE_PATTERN=${RACE_PATTERN:-'/internal/(probe|load|ui|tune)(/|$)|/sampleapp(/|$)'}
FUZZTIME=${FUZZTIME:-3s}
LINT=${LINT:-0}
LANES=${LANES:-1}
# go test runs a few of go vet's checks on each package it tests; with
# LINT=1 go vet runs all of them on every package, test files included.
testvet=()
if [ "$LINT" = "1" ]; then testvet=(-vet=off); fi

logs=$(mktemp -d)
other_pid=""
fuzz_pid=""
lint_pid=""
setup_pid=""
cleanup() {
	if [ -n "$setup_pid" ]; then wait "$setup_pid" 2>/dev/null || true; fi
	if [ -n "$other_pid" ]; then kill "$other_pid" 2>/dev/null || true; fi
	if [ -n "$lint_pid" ]; then pkill -P "$lint_pid" 2>/dev/null || true; kill "$lint_pid" 2>/dev/null || true; fi
	if [ -n "$fuzz_pid" ]; then pkill -P "$fuzz_pid" 2>/dev/null || true; kill "$fuzz_pid" 2>/dev/null || true; fi
	$GO run ./cmd/advisor stack down --test --quiet || true
	rm -rf "$logs"
}
trap cleanup EXIT

# elapsed runs a command and says how long it took, for the CI log.
elapsed() {
	local what=$1 start=$SECONDS rc=0
	shift
	"$@" || rc=1
	echo "test.sh: $what: $((SECONDS - start)) s$([ $rc -eq 0 ] || echo ', FAILED')"
	return $rc
}

# The setup starts first: on a new machine it installs packages while go
# downloads the modules and compiles the packages (below).
if [ "$SETUP" = "1" ]; then
	elapsed "setup (scripts/setup.sh --test)" scripts/setup.sh --test &
	setup_pid=$!
fi

# go test starts the packages in the order it is given them, two at a time
# on 2 cores. The race packages' longest go first, so that the short ones
# fill the other slot: sampleapp (66 s), last in alphabetical order, ran
# alone at the end of a fresh clone's run (race lane 151 s, then 136 s with
# this order, 2026-12-05). In the plain lane cmd/advisor (337 s) and
# internal/rules (302 s) take one slot each; internal/targets (77 s), after
# internal/rules in alphabetical order, ran at the end with cmd/advisor's
# slot idle (lane 439 s): it goes first, beside cmd/advisor, and
# internal/rules follows it. (With cmd/advisor, internal/rules and
# internal/targets first, the first two loaded the CPUs together from
# start to end and the lane took 455 s against 432. Three packages at once
# (go test -p 3) starved internal/targets: beside the two others and their
# builds, its FastAPI and Express services served 6 and 1 requests in their
# windows, 2026-12-05.)
RACE_FIRST='/advisor/sampleapp$ /advisor/internal/tune$ /advisor/internal/probe/fleet$'
PLAIN_FIRST='/advisor/internal/targets$'
all=$($GO list ./...)
# first_of FIRST PACKAGES: the packages matching FIRST's patterns in that
# order, then the others in theirs.
first_of() {
	local p
	for p in $1; do
		grep -E "$p" <<<"$2" || true
	done
	grep -vE "$(tr ' ' '|' <<<"$1")" <<<"$2" || true
}
race=$(first_of "$RACE_FIRST" "$(echo "$all" | grep -E "$RACE_PATTERN" || true)")
plain=$(first_of "$PLAIN_FIRST" "$(echo "$all" | grep -vE "$RACE_PATTERN" || true)")

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

# plain_lane: the tests marked parallel (servers of their own, no load
# whose rate they measure) mostly wait, so three at a time.
plain_lane() {
	[ -n "$plain" ] || return 0
	# shellcheck disable=SC2086
	elapsed "tests" $GO test "${testvet[@]}" -count=1 -parallel 3 -timeout 15m $plain
}

lint_part() {
	[ "$LINT" = "1" ] || return 0
	elapsed "lint (gofmt, go vet, staticcheck)" lint
}

# race_and_fuzz: the fuzz targets run beside the race packages, at the
# lowest CPU priority: the race packages wait on servers and Prometheus
# scrapes for over two fifths of their time on 2 cores (vmstat over a fresh
# clone's run, 2026-12-05), and the fuzzing fills that idle time without
# taking CPU from their tests. Each target still fuzzes for FUZZTIME.
race_and_fuzz() {
	local st=0
	if [ "$FUZZTIME" != "0" ]; then
		elapsed "fuzz targets ($FUZZTIME each, beside the race packages)" nice -n 19 scripts/fuzz.sh "$FUZZTIME" >"$logs/fuzz" 2>&1 &
		fuzz_pid=$!
	fi
	if [ -n "$race" ]; then
		# shellcheck disable=SC2086
		# Four at a time: the parallel tests here wait (the fleet tests each
		# on a prometheus of their own: 57 s one after the other, 17 s four
		# at once, with the race detector, 2026-12-05).
		elapsed "tests with the race detector" $GO test "${testvet[@]}" -count=1 -race -parallel 4 -timeout 20m $race || st=1
	fi
	if [ -n "$fuzz_pid" ]; then
		wait "$fuzz_pid" || st=1
		fuzz_pid=""
		cat "$logs/fuzz"
	fi
	return $st
}

other_lane() {
	local st=0
	lint_part || st=1
	race_and_fuzz || st=1
	return $st
}

# One go command compiles the packages and their tests before the tests
# and the lint start: several go commands compiling at once compile what
# they share once each (go test, go vet and staticcheck's go list beside
# it on a new machine's empty build cache; the fuzz runner measured it).
# With the cache warm it takes seconds; on a new machine it runs while the
# setup installs packages, which waits mostly on the network and the disk.
compile_all() { $GO list -e -export -deps -test ./... >/dev/null; }
elapsed "build (the packages and their tests)" compile_all || true
if [ -n "$setup_pid" ]; then
	setup_rc=0
	wait "$setup_pid" || setup_rc=$?
	setup_pid=""
	[ $setup_rc -eq 0 ] || exit $setup_rc
fi

status=0
if [ "$LANES" = "2" ]; then
	other_lane >"$logs/other" 2>&1 &
	other_pid=$!
	plain_lane || status=1
	wait "$other_pid" || status=1
	other_pid=""
	echo "--- lint, race detector and fuzz targets (ran alongside):"
	cat "$logs/other"
else
	# The lint runs beside the plain tests at the lowest CPU priority: they
	# leave an eighth of the CPUs idle while they wait on servers and
	# windows (vmstat over a fresh clone's run, 2026-12-05: 107 idle
	# CPU-seconds of 864), which the lint's 26 s on both cores fills
	# without taking CPU from their load.
	lint_pid=""
	if [ "$LINT" = "1" ]; then
		(
			renice -n 19 -p "$BASHPID" >/dev/null
			lint_part
		) >"$logs/lint" 2>&1 &
		lint_pid=$!
	fi
	plain_lane || status=1
	if [ -n "$lint_pid" ]; then
		wait "$lint_pid" || status=1
		lint_pid=""
		cat "$logs/lint"
	fi
	race_and_fuzz || status=1
fi

if [ $status -eq 0 ]; then
	echo "make test: all packages passed"
else
	echo "make test: FAILED" >&2
fi
exit $status
