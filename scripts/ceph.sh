#!/usr/bin/env bash
# A real single-node Ceph on this machine, for the RBD volume driver's tests and for trying VBS
# against RBD volumes: one monitor and one OSD from Debian's packages (ceph-mon, ceph-osd,
# ceph-common; installed when missing), the OSD on `memstore` (RAM, VBS_CEPH_OSD_BYTES, default
# 8 GiB), no authentication, a pool `rbd` initialised for RBD. No manager is needed for RBD.
#
#   scripts/ceph.sh up      start it unless it already answers; prints KEY=VALUE lines
#                           (CEPH_CONF, the ceph.conf to point clients at, and CEPH_POOL)
#   scripts/ceph.sh stop    stop the daemons, keeping the cluster (as a crash would leave it)
#   scripts/ceph.sh start   start the daemons of an existing cluster again
#   scripts/ceph.sh down    stop the daemons and remove the cluster
#
# State (configuration, monitor store, logs) lives in VBS_CEPH_HOME (default ~/.cache/vbs-ceph).
# A memstore OSD loses its data when it stops: `stop`/`start` model an outage of the cluster,
# not of a disk. This is a test fixture, not a deployment.
set -euo pipefail

home=${VBS_CEPH_HOME:-$HOME/.cache/vbs-ceph}
port=${VBS_CEPH_MON_PORT:-3300}
osd_bytes=${VBS_CEPH_OSD_BYTES:-8589934592}
pool=rbd
conf=$home/ceph.conf
mkdir -p "$home"

log() { echo "ceph.sh: $*" >&2; }

ensure_packages() {
    command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && command -v rbd >/dev/null && return
    log "installing ceph-mon, ceph-osd and ceph-common from Debian (first run: a few minutes)"
    export DEBIAN_FRONTEND=noninteractive
    # Waits for apt's locks rather than failing when another apt (or dpkg) runs.
    local apt=(apt-get -o DPkg::Lock::Timeout=600)
    if ! "${apt[@]}" install -y --no-install-recommends ceph-mon ceph-osd ceph-common >"$home/apt.log" 2>&1; then
        if ! { "${apt[@]}" update && "${apt[@]}" install -y --no-install-recommends ceph-mon ceph-osd ceph-common; } \
            >>"$home/apt.log" 2>&1; then
            log "installing the packages failed; the end of $home/apt.log:"
            tail -n 20 "$home/apt.log" >&2
            return 1
        fi
    fi
}

write_config() {
    local fsid=$1
    cat > "$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$port
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd crush chooseleaf type = 0
run dir = $home/run
log file = $home/log/\$name.log
pid file = $home/run/\$name.pid
admin socket = $home/run/\$name.asok
mon data = $home/mon/\$cluster-\$id
osd data = $home/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $osd_bytes
# A test machine's disk may be fuller than a monitor likes; the OSD keeps its data in RAM.
mon data avail warn = 1
mon data avail crit = 0
mon warn on insecure global id reclaim allowed = false
osd max object name len = 256
osd max object namespace len = 64
[client]
# Clients (every test process is client.admin) would all bind the same admin socket.
admin socket =
EOF
}

answers() {
    [ -f "$conf" ] && timeout 5 ceph -c "$conf" health >/dev/null 2>&1
}

start_daemons() {
    ceph-mon -c "$conf" -i a
    ceph-osd -c "$conf" -i 0
}

# Ready: the OSD is up and in (without a manager, health stays at HEALTH_WARN "no active mgr",
# which RBD does not need).
wait_healthy() {
    for _ in $(seq 1 120); do
        if timeout 5 ceph -c "$conf" osd stat 2>/dev/null | grep -q "1 up.*1 in"; then
            return 0
        fi
        sleep 0.5
    done
    log "Ceph did not become healthy; see $home/log"
    ceph -c "$conf" -s >&2 || true
    return 1
}

create() {
    log "creating a single-node cluster in $home"
    # Whatever an earlier cluster left (a crash, a killed run) is replaced, monmap included.
    rm -rf "$home/run" "$home/log" "$home/mon" "$home/osd" "$home/monmap"
    mkdir -p "$home/run" "$home/log" "$home/mon/ceph-a" "$home/osd/ceph-0"
    local fsid osd_uuid
    fsid=$(uuidgen)
    osd_uuid=$(uuidgen)
    write_config "$fsid"
    monmaptool --create --clobber --addv a "[v2:127.0.0.1:$port]" --fsid "$fsid" "$home/monmap" >/dev/null
    ceph-mon -c "$conf" --mkfs -i a --monmap "$home/monmap"
    ceph-mon -c "$conf" -i a
    ceph -c "$conf" osd new "$osd_uuid" >/dev/null
    ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" 2>>"$home/log/mkfs.log"
    ceph-osd -c "$conf" -i 0
    wait_healthy
    ceph -c "$conf" osd pool create "$pool" 8 >/dev/null 2>&1
    rbd -c "$conf" pool init "$pool"
    wait_healthy
}

stop_daemons() {
    for name in osd.0 mon.a; do
        local pidfile=$home/run/ceph-$name.pid
        [ -f "$pidfile" ] || pidfile=$home/run/$name.pid
        if [ -f "$pidfile" ]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
            rm -f "$pidfile"
        fi
    done
    pkill -f "ceph-(osd|mon) -c $conf" 2>/dev/null || true
}

case "${1:-up}" in
up)
    exec 9>"$home/lock"
    flock 9
    ensure_packages
    if ! answers; then
        stop_daemons
        # A memstore OSD keeps nothing across restarts: a cluster whose daemons stopped is
        # created afresh.
        create 9>&-
    fi
    echo "CEPH_CONF=$conf"
    echo "CEPH_POOL=$pool"
    ;;
stop)
    stop_daemons
    ;;
start)
    start_daemons
    wait_healthy
    ;;
down)
    stop_daemons
    rm -rf "$home/run" "$home/log" "$home/mon" "$home/osd" "$conf" "$home/monmap"
    ;;
*)
    echo "usage: $0 up | stop | start | down" >&2
    exit 2
    ;;
esac
