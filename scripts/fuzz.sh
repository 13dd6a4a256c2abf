#!/usr/bin/env bash
# A bounded property-based fuzz run of the whole public API: schemathesis (from PyPI, in
# ~/.cache/vbs-fuzz/venv) reads the gateway's OpenAPI document (openapi/vbs.json), generates
# valid and invalid requests for every operation and sends them to a running VBS. It fails on
# any server error (5xx), any status the document does not list for the operation, any answer
# that is not JSON where the document says JSON, and any body that violates its schema.
#
#   VBS_FUZZ_URL           the gateway (default http://127.0.0.1:8080, `make run`'s)
#   VBS_FUZZ_PROJECT       the project the requests use (default fuzz-project)
#   VBS_FUZZ_TOKEN         a token for it (default: an admin's, `make -s token PROJECT=… ROLE=admin`,
#                          which may call every operation)
#   VBS_FUZZ_MAX_EXAMPLES  generated cases per operation and phase (default 30)
#   VBS_FUZZ_SEED          the random seed (default 1: CI runs are reproducible)
#   VBS_FUZZ_PATH_IDS      path parameters to hold fixed, `name=value,…` (e.g. `backup_id=…,
#                          policy_id=…`): ids of resources that exist, so that the requests reach
#                          what the handlers do with them (default: none, every id generated)
#   VBS_FUZZ_REPORT        a directory for the JUnit and NDJSON reports (default: none)
set -euo pipefail
cd "$(dirname "$0")/.."

home=${VBS_FUZZ_HOME:-$HOME/.cache/vbs-fuzz}
venv=$home/venv
requirements=tests/fuzz/requirements.txt
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null || true)" != "$want" ]; then
    echo "fuzz.sh: installing schemathesis into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    echo "$want" > "$venv/.requirements.sha256"
fi

url=${VBS_FUZZ_URL:-http://127.0.0.1:8080}
export VBS_FUZZ_PROJECT=${VBS_FUZZ_PROJECT:-fuzz-project}
token=${VBS_FUZZ_TOKEN:-$(make -s token PROJECT="$VBS_FUZZ_PROJECT" ROLE=admin)}
config=tests/fuzz/schemathesis.toml
if [ -n "${VBS_FUZZ_PATH_IDS:-}" ]; then
    config=$(mktemp --suffix=.toml)
    trap 'rm -f "$config"' EXIT
    cp tests/fuzz/schemathesis.toml "$config"
    IFS=, read -ra pairs <<< "$VBS_FUZZ_PATH_IDS"
    for pair in "${pairs[@]}"; do
        printf '"path.%s" = "%s"\n' "${pair%%=*}" "${pair#*=}" >> "$config"
    done
fi
report=()
if [ -n "${VBS_FUZZ_REPORT:-}" ]; then
    report=(--report junit,ndjson --report-dir "$VBS_FUZZ_REPORT")
fi

"$venv/bin/st" --no-color --config-file "$config" run openapi/vbs.json \
    --url "$url" \
    --header "X-Auth-Token: $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "${VBS_FUZZ_MAX_EXAMPLES:-30}" \
    --seed "${VBS_FUZZ_SEED:-1}" \
    --generation-database none \
    --workers 1 \
    --request-timeout 30 \
    "${report[@]}"
