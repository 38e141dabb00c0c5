#!/usr/bin/env bash
# Runs every fuzz target (func FuzzXxx in a _test.go file) for the given time
# each: briefly in make test, longer in make fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${1:-60s}
GO=${GO:-go}
status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
while IFS= read -r file; do
	dir=./$(dirname "$file")
	for name in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		echo "fuzz: $dir $name ($FUZZTIME)"
		if ! $GO test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$dir" >"$log" 2>&1; then
			cat "$log"
			status=1
		fi
	done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | grep -v '/testdata/' | sed 's|^\./||' | sort)
exit $status
