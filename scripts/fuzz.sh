#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each (default 60s).
# FUZZTIME is what `go test -fuzztime` takes: a duration (60s) or a count of
# executions (20000x). A duration races Go's fuzz coordinator against its
# own deadline: on a loaded two-core machine a starved worker then fails the
# target with a bare "context deadline exceeded" and no input
# (golang/go#75804). When that bare failure happens, the target is run once
# more for RETRY_EXECS executions, which has no deadline to trip on; a real
# finding always writes "Failing input written to ..." and fails.
#
# Seed corpora live in the top-level testdata/fuzz/<Target>/ (each target
# loads them with fixture.AddSeeds); Go writes a failing input to
# <package>/testdata/fuzz/<Target>/, and it belongs, moved to the top-level
# directory, in a commit with its fix (docs/testing.md). Usage:
# scripts/fuzz.sh [go test flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-60s}
RETRY_EXECS=${RETRY_EXECS:-2000x}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
for pkg in $($GO list ./...); do
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "fuzz: $pkg $target for $FUZZTIME"
		if $GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$@" "$pkg" 2>&1 | tee "$log"; then
			continue
		fi
		if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
			echo "fuzz: $target stopped on the coordinator's deadline without an input; once more for $RETRY_EXECS"
			if $GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$RETRY_EXECS" "$@" "$pkg"; then
				continue
			fi
		fi
		status=1
	done
done
exit $status
