#!/usr/bin/env bash
# For each service given: apply its migrations to a scratch database with the diesel CLI and
# compare `diesel print-schema` with the committed src/store/schema.rs. `--locked-schema` keeps
# the migration run from rewriting schema.rs (a new mtime would rebuild every service crate).
set -euo pipefail
if ! command -v diesel >/dev/null; then
    echo "installing diesel_cli (once; a few minutes)"
    cargo install diesel_cli --version '^2.3' --no-default-features --features postgres --locked --quiet
fi
admin=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}
status=0
for service in "$@"; do
    dir="crates/$service"
    db="vbs_schema_check_${service//-/_}_$$"
    psql "$admin/postgres" -qc "CREATE DATABASE $db"
    trap 'psql "$admin/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
    (cd "$dir" && DATABASE_URL="$admin/$db" diesel migration run --migration-dir migrations --locked-schema >/dev/null)
    if (cd "$dir" && DATABASE_URL="$admin/$db" diesel print-schema) | diff -u "$dir/src/store/schema.rs" -; then
        echo "$service: schema.rs matches the migrations"
    else
        echo "$service: schema.rs differs from the migrations (run diesel print-schema)"
        status=1
    fi
    psql "$admin/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
    trap - EXIT
done
exit $status
