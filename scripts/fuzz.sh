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
		for attempt in 1 2; do
			if $GO test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$dir" >"$log" 2>&1; then
				break
			fi
			# On a loaded machine the fuzzing engine can miss its own
			# shutdown deadline ("context deadline exceeded") without any
			# failing input: run that target once more. A real failure
			# writes its input under testdata/fuzz and is reported at once.
			if [ $attempt -eq 1 ] && ! grep -q "Failing input written to" "$log" && grep -q "context deadline exceeded" "$log"; then
				echo "fuzz: $dir $name: the engine timed out shutting down; again"
				continue
			fi
			cat "$log"
			status=1
			break
		done
	done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | grep -v '/testdata/' | sed 's|^\./||' | sort)
exit $status
