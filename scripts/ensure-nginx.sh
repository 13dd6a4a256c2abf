#!/usr/bin/env bash
# The gateway is Debian's nginx; install it when missing (machines of this kind run as root).
set -euo pipefail
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] && exit 0
echo "installing nginx-light (the API gateway)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq nginx-light >/dev/null
