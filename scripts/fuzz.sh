#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each (default 60s).
# Seed corpora live beside each package in testdata/fuzz/<Target>/; a
# failing input is written there too, and then belongs in a commit with
# its fix. Usage: scripts/fuzz.sh [go test flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-60s}
status=0
for pkg in $($GO list ./...); do
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "fuzz: $pkg $target for $FUZZTIME"
		if ! $GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$@" "$pkg"; then
			status=1
		fi
	done
done
exit $status
