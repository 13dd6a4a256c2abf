#!/usr/bin/env bash
# `make bench-scheduler`: 100,000 tasks due at one instant (1,000 policies × 100 volumes) with
# two task-scheduler replicas on one database; crates/bench/src/bin/bench_scheduler.rs seeds
# the policies, makes them due, and times the backup.requested messages it receives.
#
# A database and an AMQP namespace of its own (vbs_bench_scheduler_scale, vbsbench-scheduler),
# removed afterwards. Knobs: BENCH_REPLICAS (default 2), BENCH_POLICIES, BENCH_VOLUMES,
# VBS_SCHEDULER_TICK_SECS (default 5, the service's default).
set -euo pipefail
cd "$(dirname "$0")/.."

replicas=${BENCH_REPLICAS:-2}
pg=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}
db=vbs_bench_scheduler_scale
cargo build --release -q -p task-scheduler -p bench
bin="${CARGO_TARGET_DIR:-target}/release"
run_dir=$PWD/data/bench-scheduler
rm -rf "$run_dir" && mkdir -p "$run_dir"

drop_database() { psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"; }
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    drop_database
}
trap cleanup EXIT
trap 'exit 130' INT TERM
drop_database
: "${VBS_TOKEN_SECRET:?set VBS_TOKEN_SECRET (make bench-scheduler sets a development one)}"
psql -q "$pg/postgres" -c "CREATE DATABASE $db"

export VBS_AMQP_NAMESPACE=vbsbench-scheduler VBS_AMQP_EPHEMERAL=true
export VBS_SCHEDULER_DATABASE_URL=$pg/$db
# The benchmark makes the current whole hour due, up to an hour late: inside the grace window.
export VBS_SCHEDULER_GRACE_SECS=3600
for i in $(seq "$replicas"); do
    VBS_SCHEDULER_BIND=127.0.0.1:$((18180 + i)) "$bin/task-scheduler" >"$run_dir/task-scheduler-$i.log" 2>&1 &
done
for i in $(seq "$replicas"); do
    until curl -sf "http://127.0.0.1:$((18180 + i))/health" >/dev/null; do
        if [ "$(jobs -rp | wc -l)" -lt "$replicas" ]; then
            echo "a scheduler exited; see $run_dir/*.log" >&2
            exit 1
        fi
        sleep 0.3
    done
done
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, release build; $replicas task-scheduler replicas, tick ${VBS_SCHEDULER_TICK_SECS:-5} s"
BENCH_SCHEDULER_DATABASE_URL=$pg/$db "$bin/bench_scheduler"
echo "fired by replica (from their logs):"
grep -h "fired due slots" "$run_dir"/task-scheduler-*.log | sed -e "s/\x1b\[[0-9;]*m//g" -e "s/^/  /" || true
