#!/usr/bin/env bash
# Prints the SQLAlchemy URL template ({service} placeholder) of a PostgreSQL server for a second
# test run, if one is reachable; otherwise prints nothing. Always exits 0.
#
#   TEST_POSTGRES_URL   the server to use (default:
#                       postgresql+psycopg2://postgres@127.0.0.1:5432/chuishao_test_{service})
#
# stdout carries only the URL; what was decided is said on stderr, prefixed "[postgres] ".
set -euo pipefail

DEFAULT_URL='postgresql+psycopg2://postgres@127.0.0.1:5432/chuishao_test_{service}'
URL="${TEST_POSTGRES_URL:-$DEFAULT_URL}"
if [[ -n "${TEST_POSTGRES_URL:-}" ]]; then
    SOURCE="TEST_POSTGRES_URL"
    HINT="check TEST_POSTGRES_URL"
else
    SOURCE="default URL"
    HINT="set TEST_POSTGRES_URL to enable"
fi

say() { printf '[postgres] %s\n' "$*" >&2; }
skip() {
    say "$* PostgreSQL run skipped ($HINT)"
    exit 0
}

# host, port, the URL with its password hidden, and a libpq URL for the maintenance database
if ! parsed="$(python3 -c '
import sys
from urllib.parse import urlsplit, urlunsplit
u = urlsplit(sys.argv[1])
if not u.scheme.startswith("postgresql"):
    raise SystemExit(f"not a postgresql URL: {u.scheme!r}")
netloc = u.netloc
shown = netloc if u.password is None else netloc.replace(":" + u.password + "@", ":***@", 1)
print(u.hostname or "")
print(u.port or 5432)
print(urlunsplit((u.scheme, shown, u.path, u.query, u.fragment)))
print(urlunsplit(("postgresql", netloc, "/postgres", "", "")))
' "$URL" 2>&1)"; then
    skip "cannot read $SOURCE (${parsed##*$'\n'}):"
fi
{ read -r HOST; read -r PORT; read -r SHOWN; read -r LIBPQ; } <<<"$parsed"
ADDR="${HOST:-local socket}:$PORT"

reachable() {
    if command -v pg_isready >/dev/null 2>&1; then
        if [[ -n "$HOST" ]]; then
            pg_isready -q -t 3 -h "$HOST" -p "$PORT"
        else
            pg_isready -q -t 3 -p "$PORT"
        fi
    elif [[ -n "$HOST" ]]; then
        python3 - "$HOST" "$PORT" <<'EOF' >/dev/null 2>&1
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError:
    sys.exit(1)
EOF
    else
        return 1
    fi
}

if ! reachable; then
    skip "not reachable at $ADDR ($SOURCE: $SHOWN):"
fi

# pg_isready does not log in; where psql is at hand, make sure the URL's user can (no prompt)
if command -v psql >/dev/null 2>&1; then
    if ! login_error="$(psql -w -X -q -d "$LIBPQ" -c 'select 1' 2>&1 >/dev/null)"; then
        skip "reachable at $ADDR but login failed (${login_error%%$'\n'*}):"
    fi
fi

say "reachable at $ADDR: the suite runs a second time against it ($SHOWN)"
printf '%s\n' "$URL"
