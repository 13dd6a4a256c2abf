#!/usr/bin/env bash
# `make up`: a running Docker engine, the images (scripts/docker-images.sh), then the compose
# deployment started and waited for until every container is running and every healthcheck
# passes. Prints the state of each container. Idempotent: a running deployment is updated in
# place (compose re-creates only containers whose image or configuration changed).
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE=(docker-compose -p "${VBS_COMPOSE_PROJECT:-vbs}" -f docker/compose.yaml)
started=$(date +%s)
scripts/docker-engine.sh
scripts/docker-images.sh
mkdir -p "${VBS_VOLUMES_DIR:?}"

t=$(date +%s)
# Dependencies wait for their healthchecks (depends_on: service_healthy) as compose starts them.
"${COMPOSE[@]}" up --detach --no-build --remove-orphans
deadline=$((SECONDS + ${VBS_COMPOSE_WAIT_SECS:-180}))
while :; do
    pending=()
    for id in $("${COMPOSE[@]}" ps -q); do
        state=$(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}' "$id")
        read -r name status health <<<"$state"
        [[ "$status" == running && ("$health" == healthy || "$health" == -) ]] || pending+=("${name#/}:$status/$health")
    done
    ((${#pending[@]} == 0)) && break
    if ((SECONDS > deadline)); then
        echo "not healthy in time: ${pending[*]}" >&2
        "${COMPOSE[@]}" ps >&2
        "${COMPOSE[@]}" logs --tail 30 >&2
        exit 1
    fi
    sleep 1
done
"${COMPOSE[@]}" ps
echo "--- deployment healthy in $(($(date +%s) - t))s (make up: $(($(date +%s) - started))s in all)"
