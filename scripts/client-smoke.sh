#!/usr/bin/env bash
# Generates and installs the Python client (scripts/client-gen.sh), then runs its smoke test
# (tests/client/smoke.py) against a running stack. The environment is passed through:
#   VBS_BASE_URL VBS_TOKEN VBS_PROJECT VBS_VOLUME_ID VBS_SNAPSHOT_ID  (see smoke.py)
#   VBS_CLIENT_VENV                                                   (see client-gen.sh)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VBS_CLIENT_VENV:-$HOME/.cache/vbs-client/venv}

missing=()
for var in VBS_BASE_URL VBS_TOKEN VBS_PROJECT VBS_VOLUME_ID VBS_SNAPSHOT_ID; do
    [ -n "${!var:-}" ] || missing+=("$var")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "client-smoke: ERROR: set ${missing[*]}" >&2
    exit 2
fi

"$root/scripts/client-gen.sh"
exec "$venv/bin/python" "$root/tests/client/smoke.py"
