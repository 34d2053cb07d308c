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
# shellcheck source=lib/serve-on-minio.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve-on-minio.sh"

# --- 1. what `docker compose up` starts: ferry on MinIO ----------------------
export FERRY_TOKEN="ci-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
serve_on_minio ci-example
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
