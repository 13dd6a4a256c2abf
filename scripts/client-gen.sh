#!/usr/bin/env bash
# Generates the Python client of the gateway API (openapi/vbs.json) with openapi-python-client
# into data/client/vbs-client (git-ignored) and installs it into a virtualenv.
#
#   VBS_CLIENT_VENV   the virtualenv (default: $HOME/.cache/vbs-client/venv)
#
# Idempotent: the client is regenerated only when the document, clients/python/config.yaml,
# the generator version or this script changed (a sha256 stamp next to the output), and
# reinstalled only when the venv holds another generation. Needs only PyPI, and only the
# first time (or after a version bump). Any generator warning (an endpoint or schema it
# would skip) fails the run.
set -euo pipefail

GENERATOR=openapi-python-client
GENERATOR_VERSION=0.29.1

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
doc=$root/openapi/vbs.json
config=$root/clients/python/config.yaml
out_root=$root/data/client
out=$out_root/vbs-client
stamp_file=$out_root/vbs-client.sha256
venv=${VBS_CLIENT_VENV:-$HOME/.cache/vbs-client/venv}
installed_stamp_file=$venv/vbs-client.sha256

say() { echo "client-gen: $*" >&2; }
die() {
    echo "client-gen: ERROR: $*" >&2
    exit 1
}

[ -f "$doc" ] || die "$doc is missing (make openapi)"
[ -f "$config" ] || die "$config is missing"

# One run at a time per venv (several checkouts may share it).
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9 || die "cannot lock $venv.lock"

# 1. The virtualenv and the pinned generator (setuptools >= 70.1 builds the generated package
# offline: it has bdist_wheel).
if [ ! -x "$venv/bin/python" ]; then
    say "creating the virtualenv $venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
fi
py=$venv/bin/python
have=$("$py" -c "import importlib.metadata as m; print(m.version('$GENERATOR'))" 2>/dev/null || true)
if [ "$have" != "$GENERATOR_VERSION" ] || ! "$py" -c 'import setuptools.command.bdist_wheel' 2>/dev/null; then
    say "installing $GENERATOR==$GENERATOR_VERSION into $venv"
    "$py" -m pip install --quiet --disable-pip-version-check "$GENERATOR==$GENERATOR_VERSION" 'setuptools>=70.1' ||
        die "pip install $GENERATOR==$GENERATOR_VERSION failed"
fi
# The generator's post hooks run the ruff installed beside it.
export PATH="$venv/bin:$PATH"

# 2. Generate when an input changed.
stamp=$(cat "$doc" "$config" "${BASH_SOURCE[0]}" <(echo "$GENERATOR==$GENERATOR_VERSION") |
    sha256sum | cut -d' ' -f1)
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] && [ -f "$out/setup.py" ]; then
    say "data/client/vbs-client is up to date"
else
    mkdir -p "$out_root"
    rm -f "$stamp_file"
    # The generator names one module per operationId (a duplicate silently hides endpoints) and
    # rejects a response without a description: refuse such a document with a clear message.
    "$py" - "$doc" <<'PY' || die "$doc is not fit for client generation (fix the services' annotations)"
import json
import sys
from collections import Counter

with open(sys.argv[1], encoding="utf-8") as f:
    doc = json.load(f)
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
operations = [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items() if m in METHODS]
problems = [f"{m.upper()} {p}: no operationId" for m, p, op in operations if not op.get("operationId")]
ids = Counter(op.get("operationId") for _, _, op in operations)
problems += [f"operationId {oid!r} is used {n} times" for oid, n in ids.items() if oid and n > 1]
problems += [
    f"{m.upper()} {p}: response {code} has no description"
    for m, p, op in operations
    for code, r in op.get("responses", {}).items()
    if "$ref" not in r and not r.get("description")
]
if problems:
    sys.exit("\n".join(problems))
PY

    tmp=$(mktemp -d "$out_root/.gen.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    log=$tmp/generator.log
    say "generating data/client/vbs-client with $GENERATOR $GENERATOR_VERSION"
    if ! (cd "$tmp" && "$venv/bin/openapi-python-client" generate --path "$doc" --config "$config" \
        --meta setup --output-path "$tmp/vbs-client" --fail-on-warning) >"$log" 2>&1; then
        cat "$log" >&2
        die "$GENERATOR failed or warned (a warning means an endpoint or schema would be skipped)"
    fi
    # --fail-on-warning covers the generator's own warnings; be loud about anything it prints
    # that looks like one anyway.
    if grep -Eiq 'warning|skipping|will not be generated' "$log"; then
        cat "$log" >&2
        die "$GENERATOR printed warnings"
    fi
    [ -f "$tmp/vbs-client/setup.py" ] || die "$GENERATOR produced no setup.py"
    rm -rf "$out"
    mv "$tmp/vbs-client" "$out"
    echo "$stamp" >"$stamp_file"
fi

# 3. Install the generated package into the venv (its dependencies, httpx and attrs, come with
# the generator).
if [ ! -f "$installed_stamp_file" ] || [ "$(cat "$installed_stamp_file")" != "$stamp" ] ||
    ! "$py" -c 'import vbs_client' 2>/dev/null; then
    say "installing vbs-client into $venv"
    "$py" -m pip install --quiet --disable-pip-version-check --no-build-isolation --force-reinstall \
        --no-deps "$out" || die "pip install of data/client/vbs-client failed"
    "$py" -m pip check --disable-pip-version-check >/dev/null ||
        die "vbs-client's dependencies are not satisfied in $venv: $("$py" -m pip check 2>&1)"
    "$py" -c 'import vbs_client' || die "the installed vbs_client does not import"
    echo "$stamp" >"$installed_stamp_file"
fi
say "vbs_client ready in $venv ($GENERATOR $GENERATOR_VERSION)"
