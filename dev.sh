#!/usr/bin/env bash
# One entry point for README's two commands:
#   ./dev.sh demo   set up the virtual environment (and Azurite, where npm is) and run the demo on the
#                   embedded sandbox
#   ./dev.sh test   set up everything the tests need (venv, Python packages, Azurite from npm via
#                   package-lock.json) and run ruff, mypy --strict and the whole pytest suite; then the
#                   suite again on the lowest Python (3.9, with the lowest dependency versions) and the
#                   highest (3.13), where those interpreters are installed (required in CI)
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
        echo "dev.sh: installing Python packages into $VENV (the first time takes a minute or two)..." >&2
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
        if [ "$1" = dev ]; then
            "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[aio,aws]" -r requirements-dev.txt
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
        echo "dev.sh: installing the Azurite storage emulator with npm ci (about a minute)..." >&2
        npm ci --no-audit --no-fund --loglevel=error
    fi
}

find_python() {
    # $1: a version like 3.9; prints the path of an interpreter that runs, or nothing (pyenv's shims
    # exist for every version but run only the selected ones, so each candidate is tried).
    local candidate
    for candidate in "$(pyenv root 2>/dev/null)/versions/$1"*/bin/python3 "$HOME/.pyenv/versions/$1"*/bin/python3 "python$1"; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys' >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
}

test_on_python() {
    # $1: version; $2: "lowest" to install the lowest dependency versions (constraints-lowest.txt).
    local python venv stamp want constraints=()
    python=$(find_python "$1")
    if [ -z "$python" ]; then
        echo "dev.sh: Python $1 not found: the suite did not run on it" >&2
        [ "${CI:-}" = true ] && return 1
        return 0
    fi
    venv=".venv-py$1"
    stamp="$venv/.dev-stamp"
    [ "$2" = lowest ] && constraints=(-c constraints-lowest.txt)
    want=$(cat setup.cfg pyproject.toml requirements-dev.txt constraints-lowest.txt | sha256sum | cut -c1-16)
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "dev.sh: installing Python $1 test packages into $venv ($2 dependency versions)..." >&2
        "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
        # The lowest Python takes the newest test tools that still support it; the others the pinned ones.
        local tools
        if [ "$2" = lowest ]; then
            tools="pytest pytest-timeout hypothesis"
        else
            tools=$(grep -E '^(pytest|pytest-timeout|hypothesis)==' requirements-dev.txt)
        fi
        # shellcheck disable=SC2086 # word splitting of $tools is wanted
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "${constraints[@]}" -e ".[aio,aws]" \
            azure-storage-blob $tools
        echo "$want" > "$stamp"
    fi
    echo "dev.sh: the suite on $("$venv/bin/python" --version) ($2 dependency versions)" >&2
    "$venv/bin/python" -m pytest -q -p no:cacheprovider
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
        "$VENV/bin/python" -m pytest "${@:2}"
        if [ $# -le 1 ]; then  # the whole suite was asked for: also on the lowest and highest Python
            test_on_python 3.9 lowest
            test_on_python 3.13 latest
        fi
        ;;
    *)
        echo "usage: ./dev.sh demo | ./dev.sh test [pytest args]" >&2
        exit 2
        ;;
esac
