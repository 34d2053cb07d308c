# serve-on-minio.sh: sourced by the scripts that need `ferry serve` on the
# MinIO of scripts/with-minio.sh (ci-example.sh, wait-test.sh). It makes
# $work, a temporary directory removed on exit with the server stopped, and
# defines serve_on_minio. Needs `ferry` on PATH and FERRY_TEST_S3_*.
: "${FERRY_TEST_S3_ENDPOINT:?run this under scripts/with-minio.sh}"

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-script.XXXXXX")
server_pid=""
cleanup() {
	if [[ -n "$server_pid" ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# serve_on_minio NAME: starts ferry on a new bucket NAME-<random> with the
# FERRY_TOKEN of the caller's environment, waits until it serves, and sets
# and exports FERRY_SERVER (also in $url). Exits with ferry's log if it
# does not start.
serve_on_minio() {
	# The log exists before the server starts, so the loop can read it at once.
	: >"$work/serve.log"
	FERRY_S3_ACCESS_KEY="$FERRY_TEST_S3_ACCESS_KEY" FERRY_S3_SECRET_KEY="$FERRY_TEST_S3_SECRET_KEY" \
		ferry serve --addr 127.0.0.1:0 --storage s3 --s3-endpoint "$FERRY_TEST_S3_ENDPOINT" --s3-insecure \
		--s3-bucket "$1-$RANDOM$RANDOM" --s3-create-bucket 2>"$work/serve.log" &
	server_pid=$!
	url=""
	for _ in $(seq 300); do
		url=$(sed -n 's/.*msg="ferry serving" url=\([^ ]*\).*/\1/p' "$work/serve.log")
		[[ -n "$url" ]] && break
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [[ -z "$url" ]]; then
		echo "ferry did not start:" >&2
		cat "$work/serve.log" >&2
		exit 1
	fi
	export FERRY_SERVER="$url"
}
