#!/usr/bin/env bash
# ci-example.sh: the CI sequence of docs/ci.md, run with the binaries instead
# of containers, so that the example stays true: `make test` runs it
# (cmd/ferry/scripts_test.go) under scripts/with-minio.sh.
#
# Needs: `ferry` on PATH and the FERRY_TEST_S3_* variables of
# scripts/with-minio.sh. Part 1 stands in for docs/ci/compose.yaml (ferry
# serving from MinIO); part 2 is the pipeline's steps, word for word as in
# docs/ci.md and docs/ci/github-actions.yml.
set -euo pipefail
: "${FERRY_TEST_S3_ENDPOINT:?run this under scripts/with-minio.sh}"

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-ci.XXXXXX")
server_pid=""
cleanup() {
	if [[ -n "$server_pid" ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# --- 1. what `docker compose up` starts: ferry on MinIO ----------------------
export FERRY_TOKEN="ci-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
: >"$work/serve.log" # before the server starts, so the loop below can read it at once
FERRY_S3_ACCESS_KEY="$FERRY_TEST_S3_ACCESS_KEY" FERRY_S3_SECRET_KEY="$FERRY_TEST_S3_SECRET_KEY" \
	ferry serve --addr 127.0.0.1:0 --storage s3 --s3-endpoint "$FERRY_TEST_S3_ENDPOINT" --s3-insecure \
	--s3-bucket "ci-example-$RANDOM$RANDOM" --s3-create-bucket 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 300); do
	url=$(sed -n 's/.*msg="ferry serving" url=\([^ ]*\).*/\1/p' "$work/serve.log")
	[[ -n "$url" ]] && break
	kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
	sleep 0.1
done
[[ -n "$url" ]] || { echo "ferry did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
export FERRY_SERVER="$url"
cd "$work"
head -c 3000000 /dev/urandom >artifact.bin

# --- 2. the pipeline (FERRY_SERVER and FERRY_TOKEN set) ----------------------
# ferry-ci-steps begin (docs/ci/github-actions.yml has these same lines)
ferry smoke
id=$(ferry upload --print id artifact.bin)
ferry wait --timeout 5m "$id"
ferry download --output downloaded.bin "$id"
cmp artifact.bin downloaded.bin
# ferry-ci-steps end
echo "ci-example: uploaded, waited for and downloaded $id byte for byte"
