#!/usr/bin/env bash
# wait-test.sh: `ferry wait` in a shell, against ferry on MinIO, for uploads
# that another job (curl, over tus) makes, finishes, deletes or leaves
# unfinished. `make test` runs it (cmd/ferry/scripts_test.go) under
# scripts/with-minio.sh. Needs `ferry` on PATH and curl.
set -euo pipefail
# shellcheck source=lib/serve-on-minio.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve-on-minio.sh"
fail() { echo "wait-test: FAIL: $*" >&2; exit 1; }

export FERRY_TOKEN="wait-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
serve_on_minio wait-test
auth=(-H "Authorization: Bearer $FERRY_TOKEN" -H "Tus-Resumable: 1.0.0")

# create SIZE: the other job starts a tus upload; prints its id.
create() {
	curl -fsS -o /dev/null -D - "${auth[@]}" -X POST -H "Upload-Length: $1" "$url/uploads/" |
		tr -d '\r' | sed -n 's|^[Ll]ocation: .*/uploads/||p'
}
# append ID OFFSET FILE: the other job sends bytes.
append() {
	curl -fsS -o /dev/null "${auth[@]}" -X PATCH -H "Upload-Offset: $2" \
		-H "Content-Type: application/offset+octet-stream" --data-binary "@$3" "$url/uploads/$1"
}
# settle: gives ferry wait a moment to open its stream, so that the event
# (not the first state read) is what it sees. Correct either way: it reads
# the state only once the stream is open.
settle() { sleep 0.5; }

head -c 1000000 /dev/urandom >"$work/part1"
head -c 500000 /dev/urandom >"$work/part2"

# 1. An upload in progress completes while ferry wait waits: exit 0, its URL.
id=$(create 1500000)
[[ -n "$id" ]] || fail "no upload created"
append "$id" 0 "$work/part1"
ferry wait --timeout 60s "$id" >"$work/out1" 2>"$work/err1" &
waiter=$!
settle
kill -0 "$waiter" 2>/dev/null || fail "ferry wait returned before the upload completed: $(cat "$work/err1")"
append "$id" 1000000 "$work/part2"
wait "$waiter" || fail "ferry wait failed for a completed upload: $(cat "$work/err1")"
[[ "$(cat "$work/out1")" == "$url/files/$id" ]] || fail "ferry wait printed $(cat "$work/out1")"
grep -q polling "$work/err1" && fail "ferry wait polled: $(cat "$work/err1")"

# 2. Deleted by the other job while waiting: non-zero, nothing on stdout.
id=$(create 1500000)
ferry wait --timeout 60s "$id" >"$work/out2" 2>"$work/err2" &
waiter=$!
settle
curl -fsS -o /dev/null "${auth[@]}" -X DELETE "$url/uploads/$id"
if wait "$waiter"; then fail "ferry wait succeeded for a deleted upload"; fi
[[ ! -s "$work/out2" ]] || fail "ferry wait printed $(cat "$work/out2") for a deleted upload"
grep -q "deleted" "$work/err2" || fail "ferry wait did not say it was deleted: $(cat "$work/err2")"

# 3. Never finished: --timeout ends the wait, non-zero.
id=$(create 1500000)
if ferry wait --timeout 1s "$id" 2>"$work/err3"; then fail "ferry wait succeeded for an unfinished upload"; fi
grep -q "timed out" "$work/err3" || fail "ferry wait did not say it timed out: $(cat "$work/err3")"

# 4. Several at once, one of them already complete, given as URLs too.
a=$(create 1000000)
b=$(create 1000000)
append "$a" 0 "$work/part1"
ferry wait --timeout 60s "$a" "$url/files/$b" >"$work/out4" 2>"$work/err4" &
waiter=$!
settle
append "$b" 0 "$work/part1"
wait "$waiter" || fail "ferry wait for two: $(cat "$work/err4")"
[[ "$(cat "$work/out4")" == "$url/files/$a"$'\n'"$url/files/$b" ]] || fail "ferry wait for two printed $(cat "$work/out4")"

echo "wait-test: ok"
