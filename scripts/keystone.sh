#!/usr/bin/env bash
# A real OpenStack Keystone on this machine, for the tests and for trying VBS against one:
# keystone from PyPI in a virtualenv (tests/keystone/requirements.txt, which also pins
# python-openstackclient and the otcextensions plugin), SQLite, fernet tokens, served by gunicorn.
#
#   scripts/keystone.sh up           start it unless it already answers; prints KEY=VALUE lines
#   scripts/keystone.sh serve PORT   serve the same Keystone on PORT in the foreground (tests
#                                    that stop and restart Keystone use their own instance)
#   scripts/keystone.sh down         stop the one `up` started
#
# State (virtualenv, database, keys) lives in VBS_KEYSTONE_HOME (default ~/.cache/vbs-keystone):
# the first `up` installs and bootstraps (~2 minutes), later ones reuse it (~5 s to start, or
# nothing when it runs). The admin user is `admin` with password VBS_KEYSTONE_ADMIN_PASSWORD
# (default `vbs-test-admin`): this is a test fixture, not a deployment.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

home=${VBS_KEYSTONE_HOME:-$HOME/.cache/vbs-keystone}
port=${VBS_KEYSTONE_PORT:-35357}
admin_password=${VBS_KEYSTONE_ADMIN_PASSWORD:-vbs-test-admin}
venv=$home/venv
state=$home/state
requirements=$repo/tests/keystone/requirements.txt
mkdir -p "$home"

log() { echo "keystone.sh: $*" >&2; }

ensure_venv() {
    local want have
    want=$(sha256sum "$requirements" | cut -d' ' -f1)
    have=$(cat "$venv/.requirements.sha256" 2>/dev/null || true)
    [ "$want" = "$have" ] && return
    log "installing keystone, gunicorn and the OpenStack CLIs into $venv (first run: ~2 min)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    echo "$want" > "$venv/.requirements.sha256"
}

write_config() {
    mkdir -p "$state/fernet-keys" "$state/credential-keys"
    cat > "$state/keystone.conf" <<EOF
[DEFAULT]
log_file = $state/keystone.log
[database]
# Wait for the lock rather than fail ("database is locked") when requests write at once.
connection = sqlite:///$state/keystone.db?timeout=30
[identity]
# A test fixture: cheap password hashes, so that the tests' many users cost nothing.
password_hash_rounds = 4
[token]
provider = fernet
expiration = 3600
[fernet_tokens]
key_repository = $state/fernet-keys
[credential]
key_repository = $state/credential-keys
EOF
    cat > "$state/wsgi.py" <<'EOF'
import sys
# oslo.config would otherwise read gunicorn's own arguments, and the worker would exit.
sys.argv = sys.argv[:1]
from keystone.server import wsgi
application = wsgi.initialize_public_application()
EOF
}

bootstrap() {
    [ -f "$state/bootstrapped" ] && return
    log "bootstrapping the database and keys (log: $state/bootstrap.log)"
    rm -f "$state/keystone.db"
    local manage=("$venv/bin/keystone-manage" --config-file "$state/keystone.conf")
    {
        "${manage[@]}" db_sync
        "${manage[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
        "${manage[@]}" credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
        "${manage[@]}" bootstrap --bootstrap-password "$admin_password" \
            --bootstrap-public-url "http://127.0.0.1:$port/v3" --bootstrap-region-id RegionOne
    } >>"$state/bootstrap.log" 2>&1
    touch "$state/bootstrapped"
}

answers() {
    curl -sf -o /dev/null "http://127.0.0.1:$1/v3"
}

wait_until_up() {
    for _ in $(seq 1 150); do
        answers "$1" && return 0
        sleep 0.2
    done
    log "Keystone did not answer on port $1; see $state/gunicorn-$1.log"
    return 1
}

# One synchronous worker: a test fixture's requests are few and quick, and one at a time they
# never race each other for SQLite's write lock.
gunicorn_args() {
    echo --bind "127.0.0.1:$1" --workers "$2" --chdir "$state" --log-file "$state/gunicorn-$1.log" wsgi:application
}

case "${1:-up}" in
up)
    exec 9>"$home/lock"
    flock 9
    ensure_venv
    write_config
    if ! answers "$port"; then
        bootstrap
        # SQLite in WAL mode: readers never block the writer (every password login writes the
        # user's last_active_at), so parallel tests do not meet "database is locked".
        "$venv/bin/python" -c "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=WAL')" \
            "$state/keystone.db"
        log "starting Keystone on 127.0.0.1:$port"
        # shellcheck disable=SC2046
        # Detached from this script's lock and output, which it would otherwise hold open.
        OS_KEYSTONE_CONFIG_FILES=$state/keystone.conf setsid "$venv/bin/gunicorn" $(gunicorn_args "$port" 1) \
            --daemon --pid "$state/gunicorn-$port.pid" 9>&- </dev/null >/dev/null 2>&1
        wait_until_up "$port"
    fi
    echo "KEYSTONE_URL=http://127.0.0.1:$port/v3"
    echo "KEYSTONE_ADMIN_PASSWORD=$admin_password"
    echo "KEYSTONE_VENV=$venv"
    ;;
serve)
    [ -f "$state/bootstrapped" ] || { log "run '$0 up' first"; exit 1; }
    # shellcheck disable=SC2046
    OS_KEYSTONE_CONFIG_FILES=$state/keystone.conf exec "$venv/bin/gunicorn" $(gunicorn_args "$2" 1)
    ;;
down)
    if [ -f "$state/gunicorn-$port.pid" ]; then
        kill "$(cat "$state/gunicorn-$port.pid")" 2>/dev/null || true
        rm -f "$state/gunicorn-$port.pid"
    fi
    ;;
*)
    echo "usage: $0 up | serve PORT | down" >&2
    exit 2
    ;;
esac
