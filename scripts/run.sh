#!/usr/bin/env bash
# `make run`: the whole API as it is deployed, as local processes — policy-service,
# task-scheduler, the backup-service API and one backup worker behind the nginx gateway at
# http://127.0.0.1:8080. Ctrl-C (or any process exiting) stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-nginx.sh
# Optimised code, as deployed: an unoptimised engine backs up several times slower.
cargo build --release -p policy-service -p task-scheduler -p backup-service
bin="${CARGO_TARGET_DIR:-target}/release"

# Ports behind the gateway (each service's default).
policy=127.0.0.1:8083 scheduler=127.0.0.1:8081 backup=127.0.0.1:8082
run_dir=data/gateway
mkdir -p "$run_dir"
sed -e "s/server policy-service:8080;/server $policy;/" \
    -e "s/server task-scheduler:8080;/server $scheduler;/" \
    -e "s/server backup-service:8080;/server $backup;/" \
    -e "s/listen 8080;/listen 127.0.0.1:8080;/" \
    -e "s#/tmp/vbs-gateway#$PWD/$run_dir/gateway#" \
    docker/gateway/nginx.conf > "$run_dir/nginx.conf"

trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
VBS_POLICY_BIND=$policy "$bin/policy-service" &
VBS_SCHEDULER_BIND=$scheduler "$bin/task-scheduler" &
VBS_BACKUP_BIND=$backup "$bin/backup-service" --role api &
"$bin/backup-service" --role worker &
nginx -e stderr -c "$PWD/$run_dir/nginx.conf" -p "$PWD/$run_dir" -g 'daemon off;' &
echo "VBS API: http://127.0.0.1:8080  (policy-service $policy, task-scheduler $scheduler, backup-service $backup, one worker)"
wait -n
