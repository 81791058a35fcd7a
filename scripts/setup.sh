#!/usr/bin/env bash
# Shared set-up for scripts/run and scripts/test: system libraries (when run as
# root), a virtual environment in .venv, and surfaced installed into it (which
# compiles the native core). Sourced, not run: it sets VENV and PY.
#
#   SURFACED_APT="..."  extra Debian packages the caller needs
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SURFACED_VENV:-$ROOT/.venv}"
APT_PACKAGES="libportaudio2 jackd2 ${SURFACED_APT:-}"

missing_packages() {
    local missing=()
    for pkg in $APT_PACKAGES; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    echo "${missing[*]:-}"
}

if command -v dpkg-query >/dev/null 2>&1; then
    missing="$(missing_packages)"
    if [ -n "$missing" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "surfaced: installing system packages: $missing" >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >&2
            # shellcheck disable=SC2086
            apt-get install -y -qq --no-install-recommends $missing >&2
        else
            echo "surfaced: these system packages are missing: $missing" >&2
            echo "          install them with: sudo apt-get install $missing" >&2
            echo "          (continuing: what needs them is skipped or falls back)" >&2
        fi
    fi
fi

if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
    echo "surfaced: a C compiler is needed to build the core: sudo apt-get install gcc" >&2
    exit 1
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "surfaced: Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "surfaced: creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
# Re-install only when the sources changed since the last install.
stamp="$VENV/.surfaced-installed"
extras="${SURFACED_EXTRAS:-}"
if [ ! -f "$stamp" ] || [ -n "$(find "$ROOT/native" "$ROOT/pyproject.toml" "$ROOT/setup.py" \
        -newer "$stamp" -print -quit)" ] || ! grep -qx "extras=$extras" "$stamp"; then
    echo "surfaced: installing surfaced${extras:+[$extras]} (compiles the native core)" >&2
    "$PY" -m pip install -q --upgrade pip >&2
    "$PY" -m pip install -q -e "$ROOT${extras:+[$extras]}" >&2
    echo "extras=$extras" > "$stamp"
fi
export VENV PY ROOT
