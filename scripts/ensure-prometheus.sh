#!/usr/bin/env bash
# Makes sure `prometheus` and `promtool` are installed (the tests run a real Prometheus and promtool).
#
#   - Found on PATH (or in /usr/bin, /usr/local/bin, /opt/prometheus): nothing is done.
#   - Missing, and we are root with apt-get: Debian's `prometheus` package is installed (it brings
#     both binaries). Debian starts no Prometheus service in a container; if the package's service
#     does start on a full system, it is left alone: the tests start their own on a free port.
#   - Otherwise: says what to do, and exits 1.
#
# Environment:
#   ENSURE_PROMETHEUS_NO_INSTALL=1   only check: never install anything
#
# Prints the directory holding both binaries on its last line of standard output (for scripts);
# everything else goes to standard error, prefixed "[prometheus] ".
set -euo pipefail

NO_INSTALL="${ENSURE_PROMETHEUS_NO_INSTALL:-0}"
err() { printf '[prometheus] %s\n' "$*" >&2; }

find_dir() {
    local dir
    for dir in "$(dirname "$(command -v promtool 2>/dev/null || echo /nonexistent/promtool)")" \
               /usr/bin /usr/local/bin /opt/prometheus; do
        if [[ -x "$dir/promtool" && -x "$dir/prometheus" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

if dir="$(find_dir)"; then
    err "prometheus and promtool found in $dir ($("$dir/prometheus" --version 2>&1 | head -n 1))"
    echo "$dir"
    exit 0
fi

if [[ "$NO_INSTALL" == 1 ]]; then
    err "prometheus/promtool not found (ENSURE_PROMETHEUS_NO_INSTALL=1: not installing)"
    exit 1
fi

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    LOG="$(mktemp "${TMPDIR:-/tmp}/ensure-prometheus.XXXXXX")"
    trap 'rm -f "$LOG"' EXIT
    err "prometheus is not installed; installing Debian's package with apt-get (this can take a minute)"
    if ! apt-get update >"$LOG" 2>&1; then
        tail -n 20 "$LOG" | sed 's/^/[prometheus]   /' >&2
        err "apt-get update failed"
        exit 1
    fi
    # no recommends: the node exporter and the other exporters are not needed here
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >"$LOG" 2>&1; then
        tail -n 20 "$LOG" | sed 's/^/[prometheus]   /' >&2
        err "apt-get install prometheus failed"
        exit 1
    fi
    if dir="$(find_dir)"; then
        err "installed: $("$dir/prometheus" --version 2>&1 | head -n 1)"
        echo "$dir"
        exit 0
    fi
    err "the prometheus package was installed but prometheus/promtool cannot be found"
    exit 1
fi

err "prometheus and promtool are not installed and this script cannot install them (not root, or no apt-get)."
err "Install them, e.g.:"
err "    sudo apt-get install --no-install-recommends prometheus"
err "or unpack the official release and put its prometheus and promtool on PATH."
exit 1
