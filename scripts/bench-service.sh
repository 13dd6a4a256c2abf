#!/usr/bin/env bash
# `make bench-service`: what a user of `make run` gets, against the engine alone, in one run on
# the same image (the 4 GiB image of `make bench-engine`, generated once in BENCH_DIR):
#
#   - engine alone: a full backup and a durable restore (`fdatasync`), as child processes of
#     the engine benchmark (`bench_engine __engine …`);
#   - the service path: the release backup-service API and one worker (as scripts/run.sh starts
#     them); POST /v2/{p}/backups of a volume holding the image (with a snapshot, so no copy
#     is timed) → `available`, then POST …/restore into an empty volume → `available` again,
#     and the restored volume's sha256 against the image's;
#   - the latency floor: POST to `available` for a 64 MiB volume, 20 times (a new volume each
#     time: every one a full backup), p50 / p99 / max.
#
# The volume and its snapshot are hard links to the image (the file driver accepts regular
# files), so nothing is copied. Each timed step starts after `sync` and an emptied page cache,
# with its input (the image, or the stored packs) read once. Everything runs in a database and an AMQP namespace of its
# own (vbs_bench_service, vbsbench-service) on port 18382, removed afterwards. Knobs:
# BENCH_DIR (default data/bench), BENCH_SIZE_GIB (4), BENCH_REPS (repetitions of the four timed
# steps, default 5, medians reported), BENCH_LATENCY_RUNS (20).
set -euo pipefail
cd "$(dirname "$0")/.."

bench_dir=${BENCH_DIR:-data/bench} size_gib=${BENCH_SIZE_GIB:-4} runs=${BENCH_LATENCY_RUNS:-20}
reps=${BENCH_REPS:-5}
pg=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}
: "${VBS_TOKEN_SECRET:?set VBS_TOKEN_SECRET (make bench-service sets a development one)}"

cargo build --release -q -p backup-service -p vbsctl
cargo build --release -q -p backup-engine --example bench_engine
bin="${CARGO_TARGET_DIR:-target}/release"
BENCH_IMAGES_ONLY=1 "$bin/examples/bench_engine" "$bench_dir" "$size_gib" >/dev/null
image=$(realpath "$bench_dir/day1.img")

run_dir=$PWD/data/bench-service
rm -rf "$run_dir" && mkdir -p "$run_dir/volumes" "$run_dir/objects" "$run_dir/engine-store"
api=127.0.0.1:18382
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS vbs_bench_service WITH (FORCE)"
    rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS vbs_bench_service WITH (FORCE)"

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
# Before each timed step: dirty pages written out and the page cache emptied (where this user
# may: root), then the step's input read once, so that every step starts alike whatever ran
# before it.
settle() {
    sync
    echo 3 2>/dev/null >/proc/sys/vm/drop_caches || true
}
warm() { settle; cat "$@" >/dev/null; }
size=$(stat -c %s "$image")
mb=$(echo "$size / 1000000" | bc -l)

export VBS_AMQP_NAMESPACE=vbsbench-service VBS_AMQP_EPHEMERAL=true
export VBS_BACKUP_DATABASE_URL=$pg/vbs_bench_service VBS_VOLUMES_ROOT=$run_dir/volumes
export VBS_OBJECT_STORE=$run_dir/objects VBS_BACKUP_GC_INTERVAL_SECS=0
VBS_BACKUP_BIND=$api "$bin/backup-service" --role api >"$run_dir/api.log" 2>&1 &
"$bin/backup-service" --role worker >"$run_dir/worker.log" 2>&1 &
until curl -sf "http://$api/health" -o /dev/null; do
    if [ "$(jobs -rp | wc -l)" -lt 2 ]; then echo "a process exited; see $run_dir/*.log" >&2; exit 1; fi
    sleep 0.2
done
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# The project the next calls work in, and a member's token for it.
use_project() {
    project=$1
    token=$("$bin/vbsctl" token --project "$project")
}
call() { curl -sf -H "X-Auth-Token: $token" "$@"; }
# Waits until backup $1 is `available` (polling every $2 s); fails on `error`. The body is
# matched by the shell, not parsed by a python3 started per poll: at 20 polls a second that
# took a noticeable share of the two cores from the worker being timed.
wait_available() {
    local body
    while true; do
        body=$(call "http://$api/v2/$project/backups/$1")
        case $body in
        *'"status":"available"'*) return ;;
        *'"status":"error'*) echo "backup $1 ended in error: $body; see $run_dir/worker.log" >&2; exit 1 ;;
        esac
        sleep "$2"
    done
}
# A volume of the file driver whose disk and snapshot are hard links to $1; prints "VOL SNAP".
linked_volume() {
    local vol snap
    vol=$(uuidgen) snap=$(uuidgen)
    mkdir -p "$run_dir/volumes/$project/$vol/snapshots"
    ln "$1" "$run_dir/volumes/$project/$vol/disk"
    ln "$1" "$run_dir/volumes/$project/$vol/snapshots/$snap"
    echo "$vol $snap"
}

# Each step sets its time in seconds ($eb, $er, $sb, $sr); the service's backup also sets $bk,
# its restore the volume it wrote, $target.
engine_backup() {
    warm "$image"
    local t
    t=$(now)
    "$bin/examples/bench_engine" __engine backup "$run_dir/engine-store" full "$image" >/dev/null
    eb=$(since "$t")
}
engine_restore() {
    truncate -s "$size" "$run_dir/engine-restored.img"
    settle
    find "$run_dir/engine-store" -type f -exec cat {} + >/dev/null
    local t
    t=$(now)
    BENCH_RESTORE_FLUSH=1 "$bin/examples/bench_engine" __engine restore "$run_dir/engine-store" full \
        "$run_dir/engine-restored.img" >/dev/null
    er=$(since "$t")
    rm -f "$run_dir/engine-restored.img"
}
service_backup() {
    local vol snap t
    read -r vol snap < <(linked_volume "$image")
    warm "$image"
    t=$(now)
    bk=$(call -X POST "http://$api/v2/$project/backups" \
        -d '{"backup": {"volume_id": "'"$vol"'", "snapshot_id": "'"$snap"'", "name": "bench"}}' | json '["backup"]["id"]')
    wait_available "$bk" 0.05
    sb=$(since "$t")
}
service_restore() {
    local t
    target=$("$bin/vbsctl" volume create --project "$project" --size "$size" --name restored)
    settle
    find "$run_dir/objects" -type f -exec cat {} + >/dev/null
    t=$(now)
    call -X POST "http://$api/v2/$project/backups/$bk/restore" -d '{"restore": {"volume_id": "'"$target"'"}}' >/dev/null
    sleep 0.05
    wait_available "$bk" 0.05
    sr=$(since "$t")
}

# Repetitions, taking turns at going first (this VM's page-cache write speed drifts); each in
# a project and an engine store of its own, removed afterwards.
want=$(sha256sum "$image" | cut -d' ' -f1)
results=()
for rep in $(seq 1 "$reps"); do
    use_project "bench-service-$rep"
    rm -rf "$run_dir/engine-store" && mkdir -p "$run_dir/engine-store"
    if [ $((rep % 2)) -eq 1 ]; then
        engine_backup; service_backup; engine_restore; service_restore
    else
        service_backup; engine_backup; service_restore; engine_restore
    fi
    got=$(sha256sum "$run_dir/volumes/$project/$target/disk" | cut -d' ' -f1)
    [ "$got" = "$want" ] || { echo "repetition $rep: the restored volume differs from the image" >&2; exit 1; }
    results+=("$eb,$sb,$er,$sr")
    rm -rf "$run_dir/volumes/$project" "$run_dir/objects/vbs/projects/$project"
done

# --- The latency floor: 64 MiB volumes ------------------------------------------------------
use_project bench-service-latency
small=$run_dir/small.img
head -c $((64 * 1024 * 1024)) "$image" >"$small"
warm "$small"
latencies=()
for _ in $(seq 1 "$runs"); do
    read -r v s < <(linked_volume "$small")
    t=$(now)
    b=$(call -X POST "http://$api/v2/$project/backups" \
        -d '{"backup": {"volume_id": "'"$v"'", "snapshot_id": "'"$s"'"}}' | json '["backup"]["id"]')
    wait_available "$b" 0.01
    latencies+=("$(since "$t")")
done

python3 - "$mb" "$runs" "${results[@]}" "${latencies[@]}" <<'EOF'
import statistics, sys
mb, rest = float(sys.argv[1]), sys.argv[2:]
runs = int(rest[0])
reps = [tuple(float(x) for x in r.split(",")) for r in rest[1:len(rest) - runs]]
lat = sorted(float(x) * 1000 for x in rest[len(rest) - runs:])
def pct(p):
    k = (len(lat) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(lat) - 1)
    return lat[lo] + (lat[hi] - lat[lo]) * (k - lo)
med = [statistics.median(r[i] for r in reps) for i in range(4)]
print(f"image: {mb:.0f} MB; {len(reps)} repetitions (taking turns at going first), medians")
print("| path | step | wall s | MB/s |")
print("|---|---|---:|---:|")
service = "service (POST → worker → engine → available)"
for path, step, s in [("engine alone", "full backup", med[0]), (service, "full backup", med[1]),
                      ("engine alone", "restore + fdatasync", med[2]), (service, "restore", med[3])]:
    print(f"| {path} | {step} | {s:.2f} | {mb / s:.0f} |")
print()
for name, e, s in [("full backup", 0, 1), ("restore", 2, 3)]:
    ratios = [r[e] / r[s] for r in reps]
    print(f"service ÷ engine, {name}: median {statistics.median(ratios):.2f} "
          f"(per repetition {', '.join(f'{x:.2f}' for x in ratios)}; target ≥ 0.8)")
print("every restored volume sha256-identical to the image")
print(f"latency floor, 64 MiB volume, POST → available, {len(lat)} runs: "
      f"p50 {pct(0.5):.0f} ms, p99 {pct(0.99):.0f} ms, max {lat[-1]:.0f} ms")
EOF
