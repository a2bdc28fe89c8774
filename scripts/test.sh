#!/usr/bin/env bash
# `make test`: the suite on SQLite and, when a PostgreSQL server is reachable, the database-facing part
# of it (integration, e2e, the fault regressions) on PostgreSQL, both passes at once.
#
# Most of the suite's time is spent waiting on service processes and the broker, not computing, so two
# passes side by side take little more than the longer one. TEST_SERIAL=1 runs them one after the other.
# The PostgreSQL pass writes to var/test-postgres.log, which is printed when it ends.
#
#   PYTEST_ARGS   extra pytest arguments for both passes
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=.venv/bin/python
DB_ENV_UNSET=(-u DATABASE_URL -u WHISTLE_DATABASE_URL -u DISPATCH_DATABASE_URL
              -u ROSTER_DATABASE_URL -u METRICS_DATABASE_URL)
read -r -a EXTRA <<<"${PYTEST_ARGS:-}"

# Unit tests use their own SQLite files whatever DATABASE_URL says; the fault storm, the backlog race and
# the small cluster run are about the broker: the PostgreSQL pass leaves them to the SQLite pass. The
# rolling restarts of replicas (PostgreSQL only) are `make replica-test`'s, not part of this suite.
PG_TESTS=(tests/integration tests/e2e tests/chaos --ignore=tests/chaos/test_replicas.py
          --deselect tests/chaos/test_faults.py::test_nothing_lost_nothing_doubled_under_faults
          --deselect tests/chaos/test_cluster.py::test_a_node_lost_mid_stream_loses_nothing
          --deselect tests/chaos/test_regressions.py::test_a_consumer_that_connects_to_a_backlog_acknowledges_every_message)

sqlite_pass() {
    echo "== suite on SQLite =="
    env "${DB_ENV_UNSET[@]}" "$PY" -m pytest -q -p no:cacheprovider --ignore=tests/chaos/test_replicas.py "${EXTRA[@]}"
}

postgres_pass() {
    env "${DB_ENV_UNSET[@]}" DATABASE_URL="$1" "$PY" -m pytest -q -p no:cacheprovider "${PG_TESTS[@]}" "${EXTRA[@]}"
}

url="$(bash scripts/postgres-url.sh)"
status=0
if [[ -z "$url" ]]; then
    sqlite_pass || status=1
else
    shown="$(sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$url")"
    mkdir -p var
    log=var/test-postgres.log
    if [[ "${TEST_SERIAL:-0}" == 1 ]]; then
        sqlite_pass || status=1
        echo "== suite on PostgreSQL ($shown) =="
        postgres_pass "$url" || status=1
    else
        echo "== suite on PostgreSQL ($shown): running alongside, output in $log =="
        postgres_pass "$url" >"$log" 2>&1 &
        pg_pid=$!
        trap 'kill "$pg_pid" 2>/dev/null' INT TERM
        sqlite_pass || status=1
        wait "$pg_pid" || status=1
        echo "== suite on PostgreSQL ($shown) =="
        cat "$log"
    fi
fi
if [[ $status != 0 ]]; then echo "== suite FAILED (see above) =="; fi
exit $status
