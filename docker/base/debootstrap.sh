#!/usr/bin/env bash
# The recipe of the local Debian bookworm base image (local/debian:bookworm), for machines that
# reach Debian's package mirror but no public image registry. scripts/docker-images.sh runs it
# only when this file (its hash is the image's label) has changed: debootstrap a minimal
# bookworm into DIR from MIRROR, then trim it like the official slim image.
#   docker/base/debootstrap.sh DIR MIRROR
set -euo pipefail
dir=$1 mirror=$2

debootstrap --variant=minbase --include=ca-certificates bookworm "$dir" "$mirror" >/dev/null
cat >"$dir/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
SOURCES
# No recommends, no package caches in the layers built on top.
cat >"$dir/etc/apt/apt.conf.d/90vbs-slim" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
    "$dir"/usr/share/man/* "$dir"/usr/share/locale/*
