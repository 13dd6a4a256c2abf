#!/usr/bin/env bash
# Makes sure a Docker engine runs on this machine: installs Debian's docker.io, docker-compose
# (v1, Python) and debootstrap when missing, and starts dockerd when it is not answering.
# Idempotent, like scripts/deps-up.sh. Needs root (CI machines and this VM run as root).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    echo "installing ${missing[*]} (Debian)"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's client matches its daemon; a newer client elsewhere on PATH may lack BuildKit.
DOCKER=/usr/bin/docker
if ! "$DOCKER" info >/dev/null 2>&1; then
    echo "starting dockerd"
    log=/var/log/vbs-dockerd.log
    # containerd is started by dockerd itself when it is not already running.
    # Its own session: it outlives this script and the CI step that ran it.
    setsid nohup dockerd --storage-driver=overlay2 >"$log" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        "$DOCKER" info >/dev/null 2>&1 && break
        sleep 1
    done
    "$DOCKER" info >/dev/null 2>&1 || { tail -n 30 "$log"; echo "dockerd did not start" >&2; exit 1; }
fi
echo "Docker engine $("$DOCKER" version --format '{{.Server.Version}}') is up"
