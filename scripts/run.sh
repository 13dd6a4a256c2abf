#!/usr/bin/env bash
# `make run`: builds and starts every service of the API as local processes, stops them all when
# one exits or on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
services=(policy-service task-scheduler)
cargo build $(printf -- '-p %s ' "${services[@]}")
bin="${CARGO_TARGET_DIR:-target}/debug"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
for s in "${services[@]}"; do
    "$bin/$s" &
done
echo "policy-service: http://127.0.0.1:8080   task-scheduler: http://127.0.0.1:8081"
wait -n
