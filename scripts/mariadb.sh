#!/usr/bin/env bash
# Debian's MariaDB server for development, tests and CI: run as the current user, in a data directory of
# its own, on a local TCP port and a socket, without systemd (nothing is installed as a service).
# `scripts/deps/legacy.sh` installs the mariadb-server package where it is missing.
#
#   scripts/mariadb.sh start [--port N]   initialise the data directory (first time), start, wait until it answers
#   scripts/mariadb.sh stop               stop cleanly (SIGTERM, then SIGKILL after MARIADB_STOP_TIMEOUT seconds)
#   scripts/mariadb.sh status             exit 0 and print the database URL when running, exit 3 when not
#
# The server has a database `log` and a user `eventplatform` (password `eventplatform`) allowed everything,
# from 127.0.0.1 and the socket: `status` prints mysql://eventplatform:eventplatform@127.0.0.1:PORT/log.
#
# Environment:
#   MARIADB_PORT           TCP port on 127.0.0.1 (default 13306; --port wins)
#   MARIADB_STATE_DIR      data directory, socket, PID file and error log (default <repo>/.cache/mariadb)
#   MARIADB_START_TIMEOUT  seconds to wait until it answers (default 60)
#   MARIADB_STOP_TIMEOUT   seconds to wait for a clean stop (default 30)
#   MARIADB_WATCH_PID      stop the server when this process is gone (the test fixture sets it)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${MARIADB_STATE_DIR:-$REPO_ROOT/.cache/mariadb}"
PORT="${MARIADB_PORT:-13306}"
USER_NAME="eventplatform"
PASSWORD="eventplatform"

die() { echo "mariadb.sh: $*" >&2; exit 1; }

cmd="${1:-}"
[ -n "$cmd" ] || die "usage: mariadb.sh start|stop|status [--port N]"
shift
while [ $# -gt 0 ]; do
    case "$1" in
        --port) PORT="${2:?--port needs a value}"; shift 2 ;;
        --port=*) PORT="${1#--port=}"; shift ;;
        *) die "unknown option $1" ;;
    esac
done
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
DATA_DIR="$STATE_DIR/data"
SOCKET="$STATE_DIR/mariadb.sock"
PID_FILE="$STATE_DIR/mariadb.pid"
LOG_FILE="$STATE_DIR/error.log"
PORT_FILE="$STATE_DIR/port"
ME="$(id -un)"

find_bin() {  # mariadbd lives in /usr/sbin, which is not on every user's PATH
    local name
    for name in "$@"; do
        if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
        if [ -x "/usr/sbin/$name" ]; then echo "/usr/sbin/$name"; return 0; fi
    done
    return 1
}

running_pid() {
    [ -f "$PID_FILE" ] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

client() {  # the command-line client over the socket, as the root account (no password, this user's server)
    "$(find_bin mariadb mysql)" --no-defaults --protocol=socket --socket="$SOCKET" -uroot "$@"
}

url() { echo "mysql://$USER_NAME:$PASSWORD@127.0.0.1:$(cat "$PORT_FILE" 2>/dev/null || echo "$PORT")/log"; }

start() {
    if running_pid >/dev/null; then
        echo "mariadb.sh: already running: $(url)" >&2
        url
        return 0
    fi
    local server install_db
    server="$(find_bin mariadbd mysqld)" || die "mariadbd not found: run scripts/deps/legacy.sh (apt-get install mariadb-server)"
    install_db="$(find_bin mariadb-install-db mysql_install_db)" || die "mariadb-install-db not found"
    local fresh=""
    if [ ! -d "$DATA_DIR/mysql" ]; then
        mkdir -p "$DATA_DIR"
        "$install_db" --no-defaults --datadir="$DATA_DIR" --user="$ME" --auth-root-authentication-method=socket \
            --skip-test-db >"$STATE_DIR/install.log" 2>&1 || { cat "$STATE_DIR/install.log" >&2; die "mariadb-install-db failed"; }
        fresh=1
    fi
    echo "$PORT" >"$PORT_FILE"
    rm -f "$SOCKET"
    # setsid: the server is not killed with the shell that started it (a test's subprocess)
    setsid "$server" --no-defaults --datadir="$DATA_DIR" --socket="$SOCKET" --port="$PORT" \
        --bind-address=127.0.0.1 --pid-file="$PID_FILE" --log-error="$LOG_FILE" --user="$ME" \
        --skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --innodb-buffer-pool-size=64M --innodb-log-file-size=16M --innodb-flush-log-at-trx-commit=1 \
        --max-connections=200 --skip-log-bin </dev/null >/dev/null 2>&1 &
    local launcher=$!
    local deadline=$((SECONDS + ${MARIADB_START_TIMEOUT:-60}))
    local admin
    admin="$(find_bin mariadb-admin mysqladmin)"
    until "$admin" --no-defaults --protocol=socket --socket="$SOCKET" -uroot ping >/dev/null 2>&1; do
        if ! kill -0 "$launcher" 2>/dev/null && ! running_pid >/dev/null; then
            tail -n 30 "$LOG_FILE" >&2 || true
            die "the server exited during startup (log: $LOG_FILE)"
        fi
        [ $SECONDS -lt $deadline ] || { stop_server; die "the server did not answer within ${MARIADB_START_TIMEOUT:-60}s (log: $LOG_FILE)"; }
        sleep 0.1
    done
    if [ -n "$fresh" ]; then
        client <<SQL
CREATE DATABASE IF NOT EXISTS log CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS '$USER_NAME'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
CREATE USER IF NOT EXISTS '$USER_NAME'@'localhost' IDENTIFIED BY '$PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
    fi
    if [ -n "${MARIADB_WATCH_PID:-}" ]; then
        # tests: the server must not outlive a killed test run
        local server_pid
        server_pid="$(running_pid)"
        setsid bash -c "while kill -0 $MARIADB_WATCH_PID 2>/dev/null && kill -0 $server_pid 2>/dev/null; do
            sleep 1; done; kill -TERM $server_pid 2>/dev/null" </dev/null >/dev/null 2>&1 &
    fi
    url
}

stop_server() {
    local pid
    pid="$(running_pid)" || { rm -f "$PID_FILE"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + ${MARIADB_STOP_TIMEOUT:-30}))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            echo "mariadb.sh: no clean stop within ${MARIADB_STOP_TIMEOUT:-30}s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.1
    done
    rm -f "$PID_FILE"
}

case "$cmd" in
    start) start ;;
    stop) stop_server ;;
    status)
        if running_pid >/dev/null; then url; else echo "mariadb.sh: not running" >&2; exit 3; fi ;;
    *) die "unknown command $cmd (start|stop|status)" ;;
esac
