#!/usr/bin/env bash
# Makes sure a RabbitMQ broker answers at AMQP_URI (default amqp://guest:guest@127.0.0.1:5672/).
#
#   - A broker that already answers is left alone (never stopped or restarted).
#   - A local broker (127.0.0.1, localhost, ::1) that does not answer is started, and installed
#     first with apt-get if it is missing and we are root.
#   - A remote broker that does not answer is reported, and the script exits 1.
#
# Environment:
#   AMQP_URI                 broker to check (default amqp://guest:guest@127.0.0.1:5672/)
#   ENSURE_BROKER_NO_START=1 only check: never install or start anything
#   ENSURE_BROKER_WAIT=60    seconds to wait for a broker we started to answer
#
# Everything printed starts with "[broker] ".
set -euo pipefail

AMQP_URI="${AMQP_URI:-amqp://guest:guest@127.0.0.1:5672/}"
NO_START="${ENSURE_BROKER_NO_START:-0}"
WAIT_SECONDS="${ENSURE_BROKER_WAIT:-60}"

say() { printf '[broker] %s\n' "$*"; }
err() { printf '[broker] %s\n' "$*" >&2; }

# host and port from the URI (amqp -> 5672, amqps -> 5671 when no port is given)
if ! parsed="$(python3 -c '
import sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
if u.scheme not in ("amqp", "amqps"):
    raise SystemExit(f"not an amqp:// or amqps:// URI: {u.scheme!r}")
port = u.port or (5671 if u.scheme == "amqps" else 5672)
print(u.hostname or "127.0.0.1", port)
' "$AMQP_URI" 2>&1)"; then
    err "cannot read host and port from AMQP_URI: ${parsed##*$'\n'}"
    exit 1
fi
read -r HOST PORT <<<"$parsed"
if [[ "$HOST" == *:* ]]; then ADDR="[$HOST]:$PORT"; else ADDR="$HOST:$PORT"; fi

# 0 when a TCP connect to HOST:PORT succeeds within $1 seconds (default 2)
answers() {
    python3 - "$HOST" "$PORT" "${1:-2}" <<'EOF' >/dev/null 2>&1
import socket, sys
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    socket.create_connection((host, port), timeout=timeout).close()
except OSError:
    sys.exit(1)
EOF
}

# 0 when the broker also starts the AMQP handshake (Connection.Start) within 10 s: a broker that
# accepts TCP but never answers the protocol header is wedged (often out of file descriptors)
speaks_amqp() {
    python3 - "$HOST" "$PORT" <<'EOF' >/dev/null 2>&1
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
with socket.create_connection((host, port), timeout=10) as sock:
    sock.settimeout(10)
    sock.sendall(b"AMQP\x00\x00\x09\x01")
    frame = sock.recv(7)
sys.exit(0 if frame[:1] == b"\x01" else 1)
EOF
}

handshake_or_explain() {
    if speaks_amqp; then
        say "RabbitMQ answers at $ADDR"
        exit 0
    fi
    err "something accepts TCP at $ADDR but does not start the AMQP handshake within 10 s:"
    err "the broker is wedged or overloaded (often: out of file descriptors). Check with"
    err "  rabbitmq-diagnostics status; cat /proc/\$(pgrep -u rabbitmq beam.smp)/limits"
    err "then restart it with a higher limit, e.g. as root:"
    err "  rabbitmqctl stop; su rabbitmq -s /bin/sh -c 'ulimit -n 20000; rabbitmq-server -detached'"
    exit 1
}

# poll until the broker answers or WAIT_SECONDS have passed
wait_for_broker() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    say "waiting up to ${WAIT_SECONDS}s for RabbitMQ at $ADDR ..."
    while ((SECONDS < deadline)); do
        if answers 1; then
            say "RabbitMQ answers at $ADDR (after ${SECONDS}s)"
            return 0
        fi
        sleep 1
    done
    return 1
}

find_server() {
    if command -v rabbitmq-server >/dev/null 2>&1; then
        command -v rabbitmq-server
    elif [[ -x /usr/sbin/rabbitmq-server ]]; then
        echo /usr/sbin/rabbitmq-server
    else
        return 1
    fi
}

node_running() { pgrep -f 'beam.*rabbit' >/dev/null 2>&1; }

LOG="$(mktemp "${TMPDIR:-/tmp}/ensure-rabbitmq.XXXXXX")"
trap 'rm -f "$LOG"' EXIT

# show the last lines of a command's output, each prefixed
show_log() { tail -n "${1:-20}" "$LOG" | sed 's/^/[broker]   /' >&2 || true; }

# start the installed server; output goes to a file (a detached daemon may keep a pipe open)
start_server() {
    local server="$1"
    if node_running; then
        # a node is up (or booting): starting a second one would only fail, so just wait
        say "a RabbitMQ node is already running; not starting another"
    else
        say "starting RabbitMQ: $server -detached"
        # Debian's wrapper switches to the rabbitmq user, whose default 1024 open files is too few
        # for a broker with hundreds of quorum queues: raise it first where we can.
        local launched=1
        if [[ $(id -u) == 0 ]] && id rabbitmq >/dev/null 2>&1 && [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]]; then
            (cd /var/lib/rabbitmq && su rabbitmq -s /bin/sh -c \
                "ulimit -n 20000 2>/dev/null; /usr/lib/rabbitmq/bin/rabbitmq-server -detached") >"$LOG" 2>&1 \
                && launched=0
        fi
        if [[ $launched != 0 ]] && ! "$server" -detached >"$LOG" 2>&1; then
            show_log
            say "'$server -detached' failed; trying: service rabbitmq-server start"
            if ! service rabbitmq-server start >"$LOG" 2>&1; then
                show_log
                err "could not start rabbitmq-server (see /var/log/rabbitmq/)"
                if [[ "$(id -u)" != 0 ]]; then
                    err "as root it would be: sudo rabbitmq-server -detached"
                    err "or set AMQP_URI to a broker you have"
                fi
                exit 1
            fi
        fi
    fi
    if ! wait_for_broker; then
        if node_running; then
            err "a RabbitMQ node is running but nothing answers at $ADDR after ${WAIT_SECONDS}s:"
            err "check its listeners (rabbitmq-diagnostics listeners) or set AMQP_URI to match"
        else
            err "RabbitMQ did not come up at $ADDR within ${WAIT_SECONDS}s (see /var/log/rabbitmq/)"
        fi
        exit 1
    fi
}

# --- already there? -----------------------------------------------------------------------------
if answers 2; then
    handshake_or_explain
fi

case "$HOST" in
    127.0.0.1 | localhost | ::1) local_host=1 ;;
    *) local_host=0 ;;
esac

if [[ "$NO_START" == 1 ]]; then
    err "nothing answers at $ADDR (ENSURE_BROKER_NO_START=1: not starting anything)"
    exit 1
fi

if ((!local_host)); then
    err "RabbitMQ at $ADDR (from AMQP_URI) is not reachable, and that is not a local address (127.0.0.1, localhost, ::1), so nothing is started here:"
    err "start that broker, or set AMQP_URI to one that answers"
    exit 1
fi

say "nothing answers at $ADDR"

# --- installed but not running: start it -----------------------------------------------------------
if server="$(find_server)"; then
    start_server "$server"
    exit 0
fi

# --- not installed: install it when we can -----------------------------------------------------------
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "rabbitmq-server is not installed; installing it with apt-get (this can take a minute)"
    if ! apt-get update >"$LOG" 2>&1; then
        show_log
        err "apt-get update failed"
        exit 1
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server >"$LOG" 2>&1; then
        show_log
        err "apt-get install rabbitmq-server failed"
        exit 1
    fi
    say "rabbitmq-server installed"
    if answers 2; then # the package's own service start may already have brought it up
        say "RabbitMQ answers at $ADDR"
        exit 0
    fi
    if ! server="$(find_server)"; then
        err "rabbitmq-server was installed but cannot be found on PATH or at /usr/sbin/rabbitmq-server"
        exit 1
    fi
    start_server "$server"
    exit 0
fi

err "RabbitMQ is not installed and this script cannot install it (not root, or no apt-get)."
err "Either install and start it:"
err "    sudo apt-get install rabbitmq-server && sudo rabbitmq-server -detached"
err "or set AMQP_URI to a broker you have, e.g. AMQP_URI=amqp://user:pass@host:5672/"
exit 1
