#!/usr/bin/env bash
# `make test`: the suite on SQLite and, when a PostgreSQL server is reachable, the database-facing part
# of it (integration, e2e, the fault regressions) on PostgreSQL, all at once.
#
# Most of the suite's time is spent waiting on service processes, the broker and deadlines, not
# computing (the whole run keeps 2 cores about 40 % busy), so the SQLite suite runs as two halves side
# by side (services and end to end; unit, browser, faults and migrations) beside the PostgreSQL pass,
# and the run takes little more than its longest part. TEST_SERIAL=1 runs the parts one after the other.
# The parts running alongside write to var/test-*.log, each printed when it ends.
#
#   PYTEST_ARGS   extra pytest arguments for every part
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
SQLITE_SERVICES=(tests/integration tests/e2e)
SQLITE_REST=(tests --ignore=tests/integration --ignore=tests/e2e --ignore=tests/chaos/test_replicas.py)

sqlite_part() {
    env "${DB_ENV_UNSET[@]}" "$PY" -m pytest -q -p no:cacheprovider "$@" "${EXTRA[@]}"
}

postgres_pass() {
    env "${DB_ENV_UNSET[@]}" DATABASE_URL="$url" "$PY" -m pytest -q -p no:cacheprovider "${PG_TESTS[@]}" "${EXTRA[@]}"
}

url="$(bash scripts/postgres-url.sh)"
shown="$(sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$url")"
parts=("sqlite-services" "sqlite-rest")
[[ -n "$url" ]] && parts+=("postgres")

run_part() {
    case "$1" in
        sqlite-services) sqlite_part "${SQLITE_SERVICES[@]}" ;;
        sqlite-rest) sqlite_part "${SQLITE_REST[@]}" ;;
        postgres) postgres_pass ;;
    esac
}

title() {
    case "$1" in
        sqlite-services) echo "== suite on SQLite: services and end to end (tests/integration, tests/e2e) ==" ;;
        sqlite-rest) echo "== suite on SQLite: unit, browser, faults, migrations ==" ;;
        postgres) echo "== suite on PostgreSQL ($shown): integration, e2e, fault regressions ==" ;;
    esac
}

status=0
if [[ "${TEST_SERIAL:-0}" == 1 ]]; then
    for part in "${parts[@]}"; do
        title "$part"
        run_part "$part" || status=1
    done
else
    mkdir -p var
    declare -A pids
    for part in "${parts[@]}"; do
        echo "$(title "$part" | sed 's/ ==$//'): running alongside, output in var/test-$part.log =="
        run_part "$part" >"var/test-$part.log" 2>&1 &
        pids[$part]=$!
    done
    trap 'kill "${pids[@]}" 2>/dev/null' INT TERM
    for part in "${parts[@]}"; do
        wait "${pids[$part]}" || status=1
        title "$part"
        cat "var/test-$part.log"
    done
fi
if [[ $status != 0 ]]; then echo "== suite FAILED (see above) =="; fi
exit $status
