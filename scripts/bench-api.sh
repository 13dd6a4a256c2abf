#!/usr/bin/env bash
# `make bench-api`: latency and throughput of the API as deployed (release binaries behind the
# nginx gateway, as scripts/run.sh starts them), measured with oha:
#
#   - the task query of a policy with 100,000 tasks (first page, a deep marker page, status
#     filters) at a fixed 1,000 requests/s: p50 / p99 / max;
#   - policy create and list, native backup show and list at full speed, each against the bare
#     actix-web + diesel + r2d2 ceiling (crates/bench/src/bin/api_ceiling.rs) doing the same
#     statement on the same database in the same run: the service's share of the ceiling;
#   - the gateway's overhead: one request direct and through nginx, at a fixed rate.
#
# Everything runs in databases and an AMQP namespace of its own (vbs_bench_*, vbsbench), on
# ports 18280-18290 (apart from CI's compose gateway on 18080), and is removed afterwards. Knobs: BENCH_SECS (seconds per fixed-rate run,
# default 15), BENCH_RATE (default 1000), BENCH_MAX_SECS (seconds per full-speed run, 10),
# BENCH_CONNECTIONS (full-speed connections, 32), BENCH_TASKS (100000), BENCH_BACKUPS (1000).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${BENCH_SECS:-15} rate=${BENCH_RATE:-1000} max_secs=${BENCH_MAX_SECS:-10}
connections=${BENCH_CONNECTIONS:-32} n_tasks=${BENCH_TASKS:-100000} n_backups=${BENCH_BACKUPS:-1000}
pg=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}

# oha holds a fixed request rate (-q) and reports percentiles; installed once from crates.io.
oha=$(command -v oha || echo "$HOME/.cargo/bin/oha")
if [ ! -x "$oha" ]; then
    echo "installing oha (the load generator) from crates.io"
    cargo install oha --locked --quiet
fi
scripts/ensure-nginx.sh
cargo build --release -q -p policy-service -p task-scheduler -p backup-service -p vbsctl -p bench
bin="${CARGO_TARGET_DIR:-target}/release"

run_dir=$PWD/data/bench-api
rm -rf "$run_dir" && mkdir -p "$run_dir/volumes" "$run_dir/objects"
gateway=127.0.0.1:18280 scheduler=127.0.0.1:18281 backup=127.0.0.1:18282 policy=127.0.0.1:18283
ceiling=127.0.0.1:18290
databases=(vbs_bench_policy vbs_bench_scheduler vbs_bench_backup)
drop_databases() {
    for db in "${databases[@]}"; do psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"; done
}
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    drop_databases
}
trap cleanup EXIT
trap 'exit 130' INT TERM
drop_databases
# Waits until URL answers (any status with -s, 2xx with -f), failing when a process it
# started has exited (its log says why).
wait_for() {
    until curl -s "$@" -o /dev/null; do
        if [ "$(jobs -rp | wc -l)" -lt "$(jobs -p | wc -l)" ]; then
            echo "a process exited; see $run_dir/*.log" >&2
            exit 1
        fi
        sleep 0.3
    done
}
: "${VBS_TOKEN_SECRET:?set VBS_TOKEN_SECRET (make bench-api sets a development one)}"

export VBS_AMQP_NAMESPACE=vbsbench VBS_AMQP_EPHEMERAL=true
VBS_POLICY_BIND=$policy VBS_POLICY_DATABASE_URL=$pg/vbs_bench_policy \
    "$bin/policy-service" >"$run_dir/policy-service.log" 2>&1 &
VBS_SCHEDULER_BIND=$scheduler VBS_SCHEDULER_DATABASE_URL=$pg/vbs_bench_scheduler \
    "$bin/task-scheduler" >"$run_dir/task-scheduler.log" 2>&1 &
VBS_BACKUP_BIND=$backup VBS_BACKUP_DATABASE_URL=$pg/vbs_bench_backup \
    VBS_VOLUMES_ROOT=$run_dir/volumes VBS_OBJECT_STORE=$run_dir/objects \
    "$bin/backup-service" --role api >"$run_dir/backup-service.log" 2>&1 &
sed -e "s/server policy-service:8080;/server $policy;/" \
    -e "s/server task-scheduler:8080;/server $scheduler;/" \
    -e "s/server backup-service:8080;/server $backup;/" \
    -e "s/listen 8080;/listen $gateway;/" \
    -e "s#/tmp/vbs-gateway#$run_dir/gateway#" \
    docker/gateway/nginx.conf >"$run_dir/nginx.conf"
nginx -e stderr -c "$run_dir/nginx.conf" -p "$run_dir" -g 'daemon off;' >"$run_dir/nginx.log" 2>&1 &
for service in $policy $scheduler $backup; do wait_for -f "http://$service/health"; done
# The ceiling works on the tables the services created.
CEILING_BIND=$ceiling CEILING_POLICY_DATABASE_URL=$pg/vbs_bench_policy \
    CEILING_BACKUP_DATABASE_URL=$pg/vbs_bench_backup "$bin/api_ceiling" >"$run_dir/ceiling.log" 2>&1 &
wait_for "http://$ceiling/v3/x/native/backups"

token() { "$bin/vbsctl" token --project "$1" --role "${2:-member}"; }
sql() { psql -qAt "$pg/$1" -c "$2"; }

# --- Seeding -----------------------------------------------------------------------------
# The task query: one policy of the scheduler's copy with 100,000 tasks in the shape the
# scheduler writes them (100 volumes, one hourly slot after another; ~2 % failed, ~1 % skipped).
task_project=bench-tasks
task_policy=$(sql vbs_bench_scheduler "SELECT gen_random_uuid()")
started=$(date +%s.%N)
sql vbs_bench_scheduler "
INSERT INTO policies (id, project_id, version, deleted, enabled, start_times, frequency_days,
    utc_offset_minutes, retention_count, keep_first_of_month, next_fire_at, updated_at)
VALUES ('$task_policy', '$task_project', 1, false, true, '02:00', 1, 0, 7, false, NULL, now());
INSERT INTO tasks (id, project_id, policy_id, volume_id, trigger, scheduled_at, status, backup_name,
    backup_id, code, message, created_at, finished_at, deadline)
SELECT gen_random_uuid()::text, '$task_project', '$task_policy', md5('volume' || v)::uuid::text,
       'schedule', slot, status, 'autobk_' || substr(md5(random()::text), 1, 4),
       CASE WHEN status = 'EXECUTE_SUCCESS' THEN gen_random_uuid()::text END,
       CASE WHEN status = 'EXECUTE_FAIL' THEN 'BackupService.9001' END,
       CASE WHEN status = 'EXECUTE_FAIL' THEN 'the volume could not be read'
            WHEN status = 'SKIP' THEN 'skipped: the previous backup of this volume is still running' END,
       slot + v * interval '1 millisecond', slot + interval '10 minutes', slot + interval '6 hours'
FROM (SELECT s, v, timestamp '2026-11-30 00:00' - (($n_tasks / 100 - s) * interval '1 hour') AS slot,
             CASE WHEN random() < 0.02 THEN 'EXECUTE_FAIL' WHEN random() < 0.01 THEN 'SKIP'
                  ELSE 'EXECUTE_SUCCESS' END AS status
      FROM generate_series(1, $n_tasks / 100) AS s, generate_series(0, 99) AS v) AS t
ORDER BY slot, v;"
sql vbs_bench_scheduler "VACUUM ANALYZE tasks"
# A marker 90 % down the newest-first list.
deep_marker=$(sql vbs_bench_scheduler "SELECT id FROM tasks ORDER BY created_at DESC, seq DESC OFFSET $((n_tasks * 9 / 10)) LIMIT 1")
printf 'seeded %s tasks in %.1f s\n' "$(sql vbs_bench_scheduler 'SELECT count(*) FROM tasks')" \
    "$(echo "$(date +%s.%N) - $started" | bc)"

# Native backups: one project with $n_backups available backups of 20 volumes.
backup_project=bench-backups
sql vbs_bench_backup "
INSERT INTO backups (id, project_id, volume_id, name, description, status, volume_bytes, size_gib,
    object_count, stored_bytes, created_at, updated_at, data_timestamp)
SELECT gen_random_uuid()::text, '$backup_project', md5('volume' || (i % 20))::uuid::text,
       'backup-' || i, 'nightly', 'available', 10737418240, 10, 40, 524288000,
       timestamp '2026-11-01' + i * interval '1 hour', timestamp '2026-11-01' + i * interval '1 hour',
       timestamp '2026-11-01' + i * interval '1 hour'
FROM generate_series(1, $n_backups) AS i;
ANALYZE backups;"
backup_id=$(sql vbs_bench_backup "SELECT id FROM backups ORDER BY created_at LIMIT 1 OFFSET $((n_backups / 2))")

# Policies: a project at the 10-policy cap for the list; creates go to random new projects
# (an admin token may act on any), so the cap never refuses one.
list_project=bench-policies
member_tasks=$(token $task_project) member_backups=$(token $backup_project)
member_list=$(token $list_project) admin=$(token bench-admin admin)
policy_body='{"backup_policy_name":"bench","scheduled_policy":{"start_time":"12:00","frequency":1,"rentention_num":7,"status":"ON"},"tags":[{"key":"env","value":"bench"}]}'
for i in $(seq 10); do
    curl -sf -X POST "http://$policy/v2/$list_project/backuppolicy" -H "X-Auth-Token: $member_list" \
        -H 'Content-Type: application/json' -d "$policy_body" >/dev/null
done

# --- Measuring ---------------------------------------------------------------------------
results=$run_dir/results.jsonl
: >"$results"
# measure NAME GROUP MODE URL [oha options…]: MODE "rate" holds $rate requests/s for $secs s;
# "max" sends as fast as $connections connections allow for $max_secs s. oha's JSON summary
# goes to $results, one line per run.
measure() {
    local name=$1 group=$2 mode=$3 url=$4
    shift 4
    local load=(-z "${secs}s" -q "$rate" -c 50 --latency-correction)
    [ "$mode" = max ] && load=(-z "${max_secs}s" -c "$connections")
    "$oha" --no-tui --output-format json "${load[@]}" "$@" "$url" >"$run_dir/oha.json"
    python3 - "$name" "$group" "$mode" "$run_dir/oha.json" >>"$results" <<'EOF'
import json, sys
name, group, mode, path = sys.argv[1:]
r = json.load(open(path))
codes = r.get("statusCodeDistribution", {})
print(json.dumps({"name": name, "group": group, "mode": mode, "rps": r["summary"]["requestsPerSec"],
                  "p50": r["latencyPercentiles"]["p50"], "p99": r["latencyPercentiles"]["p99"],
                  "max": r["summary"]["slowest"], "codes": codes,
                  "errors": r.get("errorDistribution", {})}))
EOF
    echo "  measured: $name"
}

tasks_url=v2/$task_project/backuppolicy/$task_policy/backuptasks
auth_tasks=(-H "X-Auth-Token: $member_tasks")
echo "task query at $rate requests/s, $secs s each"
measure "tasks: first page" tasks rate "http://$scheduler/$tasks_url" "${auth_tasks[@]}"
measure "tasks: deep marker page (90 %)" tasks rate "http://$scheduler/$tasks_url?marker=$deep_marker" "${auth_tasks[@]}"
measure "tasks: status=EXECUTE_SUCCESS (~97 %)" tasks rate "http://$scheduler/$tasks_url?status=EXECUTE_SUCCESS" "${auth_tasks[@]}"
measure "tasks: status=EXECUTE_FAIL (~2 %)" tasks rate "http://$scheduler/$tasks_url?status=EXECUTE_FAIL" "${auth_tasks[@]}"

# A policy create also publishes policy.changed, which the scheduler then applies: wait until
# both are done, so that the next run does not share the machine with that backlog.
settle() {
    until [ "$(sql vbs_bench_policy 'SELECT count(*) FROM outbox')" = 0 ] &&
        rabbitmqctl -q list_queues name messages | grep -q '^vbsbench\.task-scheduler\.policy-events[[:space:]]0$'; do
        sleep 1
    done
}

echo "services against the ceiling, full speed, $connections connections, $max_secs s each (ceiling first)"
create=(-m POST -H 'Content-Type: application/json' -d "$policy_body")
measure "policy create: ceiling" create max "http://$ceiling/v2/bench-[a-z0-9]{12}/backuppolicy" --rand-regex-url "${create[@]}"
# The ceiling's outbox rows announce nothing; no relay takes them (claimed forever).
sql vbs_bench_policy "DELETE FROM outbox WHERE routing_key = 'bench.ceiling'" >/dev/null
measure "policy create: service" create max "http://$policy/v2/bench-[a-z0-9]{12}/backuppolicy" --rand-regex-url "${create[@]}" -H "X-Auth-Token: $admin"
settle
measure "policy list (10): ceiling" list max "http://$ceiling/v2/$list_project/backuppolicy"
measure "policy list (10): service" list max "http://$policy/v2/$list_project/backuppolicy" -H "X-Auth-Token: $member_list"
measure "native backup show: ceiling" show max "http://$ceiling/v3/$backup_project/native/backups/$backup_id"
measure "native backup show: service" show max "http://$backup/v3/$backup_project/native/backups/$backup_id" -H "X-Auth-Token: $member_backups"
measure "native backup list (limit 100 of $n_backups): ceiling" blist max "http://$ceiling/v3/$backup_project/native/backups?limit=100"
measure "native backup list (limit 100 of $n_backups): service" blist max "http://$backup/v3/$backup_project/native/backups?limit=100" -H "X-Auth-Token: $member_backups"

echo "the gateway at $rate requests/s"
measure "native backup show: direct" gateway rate "http://$backup/v3/$backup_project/native/backups/$backup_id" -H "X-Auth-Token: $member_backups"
measure "native backup show: through nginx" gateway rate "http://$gateway/v3/$backup_project/native/backups/$backup_id" -H "X-Auth-Token: $member_backups"
measure "tasks: first page: direct" gateway rate "http://$scheduler/$tasks_url" "${auth_tasks[@]}"
measure "tasks: first page: through nginx" gateway rate "http://$gateway/$tasks_url" "${auth_tasks[@]}"

echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, release build; $n_tasks tasks, $n_backups backups"
python3 scripts/bench-api-report.py "$results"
