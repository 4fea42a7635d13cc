#!/usr/bin/env bash
# Installs the project with its test extras into ./.venv and runs the whole test suite.
# Usage: bash scripts/test.sh [pytest arguments]
# Needs Python 3.11-3.13 with venv, a C compiler and the Python headers (durable-rules builds
# from source; Debian: apt-get install build-essential python3-dev python3-venv). Installs no
# system packages: without Chromium the dashboard's browser test is skipped, or fails when
# CDS_REQUIRE_BROWSER=1 (as in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null; then
        echo "scripts/test.sh: needs Python 3.11-3.13 as $PYTHON (set PYTHON=/path/to/python3.x)" >&2
        exit 2
    fi
    "$PYTHON" -m venv .venv || {
        echo "scripts/test.sh: cannot create .venv: install the venv module (Debian: apt-get install python3-venv)" >&2
        exit 2
    }
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e '.[test]' || {
    echo "scripts/test.sh: installing failed; durable-rules needs a C compiler and the Python headers (Debian: apt-get install build-essential python3-dev)" >&2
    exit 2
}

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
    echo "scripts/test.sh: Chromium not found: the dashboard's browser test is skipped, or fails with CDS_REQUIRE_BROWSER=1 (install: apt-get install chromium)" >&2
fi

status=0
python -m pytest "$@" || status=$?
if [ "$status" = 5 ]; then
    echo "scripts/test.sh: pytest collected no tests (exit 5): a failure, not a pass" >&2
fi
exit "$status"
