#!/usr/bin/env bash
# Prints what each test of the given packages costs run alone: its wall
# time and the CPU-seconds the whole machine spent meanwhile (from
# /proc/stat, so the test stack's PostgreSQL and Redis and the processes a
# test starts count), largest CPU first. make test is CPU-bound on 2 cores:
# the CPU, not the wall time, says which test to make cheaper. Linux only;
# run it on an otherwise idle machine.
#
#	scripts/test-cpu.sh ./cmd/advisor ./internal/rules
#
# The private test stack is started by the first test that needs it and
# stopped at the end. Set ADVISOR_TEST_PG_PORT and ADVISOR_TEST_REDIS_PORT to
# keep it apart from another run's.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
if [ $# -eq 0 ]; then
	echo "usage: $0 PACKAGE..." >&2
	exit 2
fi
if [ ! -r /proc/stat ]; then
	echo "$0: needs /proc/stat (Linux)" >&2
	exit 2
fi
work=$(mktemp -d)
trap '$GO run ./cmd/advisor stack down --test --quiet || true; rm -rf "$work"' EXIT

# busy is the machine's busy CPU time so far, in clock ticks: user, nice,
# system, irq and softirq.
busy() {
	local _ user nice system _idle _iowait irq softirq _rest
	read -r _ user nice system _idle _iowait irq softirq _rest </proc/stat
	echo $((user + nice + system + irq + softirq))
}
hz=$(getconf CLK_TCK)

printf '%-28s %-60s %8s %8s %s\n' package test wall_s cpu_s result >"$work/out"
for pkg in "$@"; do
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	bin="$work/$(basename "$dir").test"
	$GO test -c -vet=off -o "$bin" "$pkg"
	[ -x "$bin" ] || continue # no test files
	for t in $(cd "$dir" && "$bin" -test.list '.*' | grep -E '^Test'); do
		c0=$(busy)
		s0=$(date +%s%N)
		result=ok
		(cd "$dir" && "$bin" -test.run "^$t\$" -test.count=1 >"$work/log" 2>&1) || result=FAILED
		s1=$(date +%s%N)
		c1=$(busy)
		awk -v p="$pkg" -v t="$t" -v w="$(((s1 - s0) / 1000000))" -v c="$((c1 - c0))" -v hz="$hz" -v r="$result" \
			'BEGIN { printf "%-28s %-60s %8.1f %8.1f %s\n", p, t, w / 1000, c / hz, r }' >>"$work/out"
	done
done
head -1 "$work/out"
tail -n +2 "$work/out" | sort -k4,4 -rn
