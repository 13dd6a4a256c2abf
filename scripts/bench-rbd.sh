#!/usr/bin/env bash
# `make bench-rbd`: the rbd volume driver's full and changed-block incremental backups against
# the file driver's, on the 4 GiB images of `make bench-engine` (generated once in BENCH_DIR),
# in one run (crates/backup-service/examples/bench_rbd.rs), on a single-node Ceph of its own
# (scripts/ceph.sh on port 3392 with a 12 GiB memstore OSD: the image, its restore and their
# snapshots live in RAM), removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

bench_dir=${BENCH_DIR:-data/bench} size_gib=${BENCH_SIZE_GIB:-4}
cargo build --release -q -p backup-engine --example bench_engine
cargo build --release -q -p backup-service --example bench_rbd
bin="${CARGO_TARGET_DIR:-target}/release/examples"
BENCH_IMAGES_ONLY=1 "$bin/bench_engine" "$bench_dir" "$size_gib" >/dev/null
export VBS_CEPH_HOME=${VBS_CEPH_HOME:-$HOME/.cache/vbs-ceph-bench} VBS_CEPH_MON_PORT=3392
export VBS_CEPH_OSD_BYTES=$((12 << 30))
trap 'scripts/ceph.sh down' EXIT
conf=$(scripts/ceph.sh up | sed -n 's/^CEPH_CONF=//p')
"$bin/bench_rbd" "$bench_dir" "$conf"
