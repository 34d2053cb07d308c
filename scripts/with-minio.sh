#!/usr/bin/env bash
# with-minio.sh CMD [ARGS...]
#
# Runs CMD with a private MinIO server for the S3 tests:
#   1. installs the pinned MinIO release into <repo>/.tools/bin when it is missing
#      (go install from the Go module proxy, about two minutes the first time);
#   2. starts it on a free 127.0.0.1 port with a temporary data directory and
#      generated credentials, and waits for /minio/health/cluster (the object layer is up, not just the process);
#   3. exports, for CMD and its children:
#        FERRY_TEST_S3_ENDPOINT     host:port (plain HTTP)
#        FERRY_TEST_S3_ACCESS_KEY   FERRY_TEST_S3_SECRET_KEY
#        FERRY_TEST_MINIO_BIN       the server binary (fault tests start their own)
#        FERRY_TEST_MINIO_DIR       the data directory of this server
#        FERRY_TEST_MINIO_ADDR      its listen address (same as the endpoint)
#        FERRY_TEST_MINIO_PIDFILE   holds the server's pid; a test that stops and
#                                   restarts this server writes the new pid there so
#                                   that it is still stopped on exit
#   4. runs CMD, stops MinIO (also on Ctrl-C or failure) and exits with CMD's status.
#
# When MinIO cannot be obtained, CMD runs without the variables (the MinIO tests
# skip with a message) unless CI=true, in which case this script fails.
# When FERRY_TEST_S3_ENDPOINT is already set, CMD runs against that server as is.
set -euo pipefail

if [[ $# -eq 0 ]]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

minio_module=github.com/minio/minio
minio_version=v0.0.0-20260212201848-7aac2a2c5b7c
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_bin="$repo/.tools/bin"
minio_bin="$tools_bin/minio"
# The stamp names the version the binary was built from, so that changing
# minio_version reinstalls it.
minio_stamp="$tools_bin/minio.version"

installed() { [[ -x "$minio_bin" && "$(cat "$minio_stamp" 2>/dev/null)" == "$minio_version" ]]; }

log() { echo "with-minio: $*" >&2; }

in_ci() { [[ "${CI:-}" == "true" ]]; }

# unavailable REASON CMD...: explains why there is no MinIO, then fails in CI
# or runs CMD without it elsewhere (the MinIO tests skip and say so).
unavailable() {
	log "$1"
	shift
	if in_ci; then
		log "CI=true: the MinIO tests must run; failing"
		exit 1
	fi
	log "running without MinIO: the S3 tests will be skipped"
	exec "$@"
}

if [[ -n "${FERRY_TEST_S3_ENDPOINT:-}" ]]; then
	log "FERRY_TEST_S3_ENDPOINT is set ($FERRY_TEST_S3_ENDPOINT): using that server"
	exec "$@"
fi

install_minio() {
	mkdir -p "$tools_bin"
	if ! command -v go >/dev/null; then
		return 1
	fi
	# Two runs at once must not build into the same directory together.
	(
		if command -v flock >/dev/null; then
			flock 9
		fi
		installed && exit 0
		log "installing MinIO $minio_version into $tools_bin (takes about 2 minutes once)"
		GOBIN="$tools_bin" GOFLAGS= go install "$minio_module@$minio_version" &&
			echo "$minio_version" >"$minio_stamp"
	) 9>"$tools_bin/.minio.lock"
}

if ! installed && ! install_minio; then
	unavailable "could not install MinIO ($minio_module@$minio_version) into $tools_bin" "$@"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-minio.XXXXXX")
pidfile="$work/minio.pid"

stop_minio() {
	local pid
	pid=$(cat "$pidfile" 2>/dev/null || true)
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
}
cleanup() {
	stop_minio
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

healthy() {
	if command -v curl >/dev/null; then
		curl -fsS -o /dev/null --max-time 2 "http://$1/minio/health/cluster" 2>/dev/null
		return
	fi
	local host=${1%:*} port=${1##*:} status
	exec 3<>"/dev/tcp/$host/$port" || return 1
	printf 'GET /minio/health/cluster HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" >&3
	read -r _ status _ <&3 || true
	exec 3>&-
	[[ "$status" == 200 ]]
}

access_key="ferry$(random_hex 8)"
secret_key=$(random_hex 20)
mkdir -p "$work/data" "$work/certs"

# start_minio ADDR: starts the server in the background and records its pid.
start_minio() {
	MINIO_ROOT_USER="$access_key" MINIO_ROOT_PASSWORD="$secret_key" \
		MINIO_BROWSER=off MINIO_UPDATE=off \
		"$minio_bin" server --quiet --address "$1" --certs-dir "$work/certs" "$work/data" \
		>>"$work/minio.log" 2>&1 &
	echo $! >"$pidfile"
}

# A free port can be taken between the check and MinIO's bind: try a few.
addr=""
for _ in $(seq 10); do
	port=$((20000 + RANDOM % 40000))
	port_in_use "$port" && continue
	start_minio "127.0.0.1:$port"
	pid=$(cat "$pidfile")
	for _ in $(seq 300); do # up to 30 s: the first start formats the drive
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		if healthy "127.0.0.1:$port"; then
			addr="127.0.0.1:$port"
			break 2
		fi
		sleep 0.1
	done
	stop_minio
done

if [[ -z "$addr" ]]; then
	log "MinIO did not become healthy; its log:"
	tail -n 30 "$work/minio.log" >&2 || true
	if in_ci; then
		log "CI=true: failing"
		exit 1
	fi
	trap - EXIT
	cleanup
	unavailable "could not start MinIO" "$@"
fi

log "MinIO is serving on $addr (data in $work/data)"
export FERRY_TEST_S3_ENDPOINT="$addr"
export FERRY_TEST_S3_ACCESS_KEY="$access_key"
export FERRY_TEST_S3_SECRET_KEY="$secret_key"
export FERRY_TEST_MINIO_BIN="$minio_bin"
export FERRY_TEST_MINIO_DIR="$work/data"
export FERRY_TEST_MINIO_ADDR="$addr"
export FERRY_TEST_MINIO_PIDFILE="$pidfile"

set +e
"$@"
status=$?
set -e
exit "$status"
