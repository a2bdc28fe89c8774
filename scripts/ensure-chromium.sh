#!/usr/bin/env bash
# Makes sure a Chromium the browser tests can drive is installed (they run the command-centre page in
# real headless Chromium through Playwright for Python, with `executable_path`: Playwright's own
# browser downloads are never used).
#
#   - CHROMIUM (if set) or /usr/bin/chromium runs: nothing is done.
#   - Missing, and we are root with apt-get: Debian's `chromium` package is installed, with the CJK
#     font the page's Chinese needs (fonts-noto-cjk) when it can be had.
#   - Otherwise: says what to do, and exits 1.
#
# Environment:
#   CHROMIUM=/path/to/chromium     another Chromium binary
#   ENSURE_CHROMIUM_NO_INSTALL=1   only check: never install anything
#
# Prints the binary's path on its last line of standard output (for scripts); everything else goes
# to standard error, prefixed "[chromium] ".
set -euo pipefail

BINARY="${CHROMIUM:-/usr/bin/chromium}"
NO_INSTALL="${ENSURE_CHROMIUM_NO_INSTALL:-0}"
err() { printf '[chromium] %s\n' "$*" >&2; }

works() { [[ -x "$BINARY" ]] && "$BINARY" --version >/dev/null 2>&1; }

if works; then
    err "found $BINARY ($("$BINARY" --version 2>/dev/null | head -n 1))"
    echo "$BINARY"
    exit 0
fi

if [[ "$NO_INSTALL" == 1 ]]; then
    err "$BINARY not found (ENSURE_CHROMIUM_NO_INSTALL=1: not installing)"
    exit 1
fi

if [[ -z "${CHROMIUM:-}" && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    LOG="$(mktemp "${TMPDIR:-/tmp}/ensure-chromium.XXXXXX")"
    trap 'rm -f "$LOG"' EXIT
    err "chromium is not installed; installing Debian's package with apt-get (this can take a few minutes)"
    if ! apt-get update >"$LOG" 2>&1; then
        tail -n 20 "$LOG" | sed 's/^/[chromium]   /' >&2
        err "apt-get update failed"
        exit 1
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >"$LOG" 2>&1; then
        tail -n 20 "$LOG" | sed 's/^/[chromium]   /' >&2
        err "apt-get install chromium failed"
        exit 1
    fi
    # Chinese characters in the screenshots; the page itself works without the font
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-noto-cjk >"$LOG" 2>&1; then
        err "fonts-noto-cjk could not be installed: Chinese text may show as boxes in screenshots"
    fi
    if works; then
        err "installed: $("$BINARY" --version 2>/dev/null | head -n 1)"
        echo "$BINARY"
        exit 0
    fi
    err "the chromium package was installed but $BINARY does not run"
    exit 1
fi

err "$BINARY is missing and this script cannot install it (not root, no apt-get, or CHROMIUM names another path)."
err "Install Debian's chromium, e.g.:"
err "    sudo apt-get install --no-install-recommends chromium fonts-noto-cjk"
err "or point CHROMIUM at a Chromium binary. (Do not run \`playwright install\`: the tests use this binary.)"
exit 1
