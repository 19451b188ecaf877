#!/usr/bin/env bash
# One entry point for README's two commands:
#   ./dev.sh demo   set up the virtual environment (and Azurite, where npm is) and run the demo on the
#                   embedded sandbox
#   ./dev.sh test   set up everything the tests need (venv, Python packages, Azurite from npm via
#                   package-lock.json) and run ruff, mypy --strict and the whole pytest suite
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv

setup_python() {
    # $1: "dev" to add the test tools. Re-installs only when the inputs change.
    local want stamp=".venv/.dev-stamp-$1"
    want=$(cat setup.cfg pyproject.toml requirements-dev.txt | sha256sum | cut -c1-16)
    if [ ! -x "$VENV/bin/python" ]; then
        "$PY" -m venv "$VENV"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
        if [ "$1" = dev ]; then
            "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[aio]" -r requirements-dev.txt
        else
            "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[aio]" azure-storage-blob
        fi
        echo "$want" > "$stamp"
    fi
}

setup_node() {
    if ! command -v npm >/dev/null 2>&1; then
        echo "dev.sh: npm not found; the Azurite end-to-end tests need Node.js 18+ and npm" >&2
        [ "${CI:-}" = true ] && exit 1
        return 0
    fi
    if [ ! -x node_modules/.bin/azurite-blob ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error
    fi
}

case "${1:-}" in
    demo)
        setup_python run
        # Azurite is optional for the demo: install it when npm is here; without it the demo says so.
        if command -v npm >/dev/null 2>&1; then
            setup_node || echo "dev.sh: npm ci failed; the demo will skip Azure Storage" >&2
        fi
        PATH="$PWD/node_modules/.bin:$PATH" exec "$VENV/bin/python" -m azure_wif_credential demo
        ;;
    test)
        setup_python dev
        setup_node
        "$VENV/bin/ruff" check .
        "$VENV/bin/ruff" format --check .
        "$VENV/bin/mypy"
        exec "$VENV/bin/python" -m pytest "${@:2}"
        ;;
    *)
        echo "usage: ./dev.sh demo | ./dev.sh test [pytest args]" >&2
        exit 2
        ;;
esac
