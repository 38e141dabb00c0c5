#!/usr/bin/env bash
# Runs every fuzz target (func FuzzXxx in a _test.go file) for the given time
# each: briefly in make test, longer in make fuzz.
#
# FUZZJOBS targets fuzz at once (default: the number of CPUs, at most 4),
# each with a share of the CPUs as its fuzzing workers (-parallel), so that
# the targets together use the CPUs one target alone would: each target
# still fuzzes for the whole time, and the seed-corpus runs between two
# targets' fuzzing no longer leave the CPUs idle.
#
# Each package's instrumented test binary is built once, one package after
# the other, before any fuzzing, and its targets run from it as go test
# -fuzz runs them. Two go commands building at once compile the
# dependencies they share twice: on an empty build cache, two small fuzz
# packages built at once took 101 CPU-seconds and 51 s, one after the other
# 63 and 33 (2026-12-05); and go test -fuzz links a binary for each target.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${1:-60s}
GO=${GO:-go}
cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
FUZZJOBS=${FUZZJOBS:-$((cpus < 4 ? cpus : 4))}
[ "$FUZZJOBS" -ge 1 ] || FUZZJOBS=1
workers=$((cpus / FUZZJOBS))
[ "$workers" -ge 1 ] || workers=1
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# fuzz_one dir name out: fuzzes one target, its output in out; the file
# out.failed says it failed.
fuzz_one() {
	local dir=$1 name=$2 out=$3 attempt
	for attempt in 1 2; do
		# The flags go test -fuzz gives the binary (go test -n shows them).
		if (cd "$dir" && "${bin_of[$dir]}" -test.paniconexit0 -test.fuzzcachedir="$fuzzcache/${import_of[$dir]}" -test.timeout=10m0s \
			-test.run='^$' -test.fuzz="^${name}\$" -test.fuzztime="$FUZZTIME" -test.parallel="$workers") >"$out" 2>&1; then
			return 0
		fi
		# On a loaded machine the fuzzing engine can miss its own
		# shutdown deadline ("context deadline exceeded") without any
		# failing input: run that target once more. A real failure
		# writes its input under testdata/fuzz and is reported at once.
		if [ $attempt -eq 1 ] && ! grep -q "Failing input written to" "$out" && grep -q "context deadline exceeded" "$out"; then
			echo "the engine timed out shutting down; again" >"$out.retried"
			continue
		fi
		touch "$out.failed"
		return 1
	done
}

targets=()
while IFS= read -r file; do
	dir=./$(dirname "$file")
	for name in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		targets+=("$dir $name")
	done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | grep -v '/testdata/' | sed 's|^\./||' | sort)

# One binary per package, built one package after the other.
declare -A bin_of import_of
fuzzcache=$($GO env GOCACHE)/fuzz
mkdir "$logs/bin"
for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	[ -z "${bin_of[$dir]:-}" ] || continue
	bin_of[$dir]=$logs/bin/$(tr / _ <<<"${dir#./}").test
	import_of[$dir]=$($GO list -f '{{.ImportPath}}' "$dir")
	if ! $GO test -c -fuzz "^${name}\$" -o "${bin_of[$dir]}" "$dir" >"$logs/build" 2>&1; then
		echo "fuzz: building $dir:"
		cat "$logs/build"
		exit 1
	fi
done

i=0
for t in "${targets[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$FUZZJOBS" ]; do
		wait -n || true
	done
	# shellcheck disable=SC2086
	fuzz_one $t "$logs/$i" &
	i=$((i + 1))
done
wait || true

status=0
i=0
for t in "${targets[@]}"; do
	echo "fuzz: $t ($FUZZTIME)"
	if [ -f "$logs/$i.retried" ]; then
		echo "fuzz: $t: $(cat "$logs/$i.retried")"
	fi
	if [ -f "$logs/$i.failed" ]; then
		cat "$logs/$i"
		status=1
	fi
	i=$((i + 1))
done
exit $status
