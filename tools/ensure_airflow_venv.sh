#!/usr/bin/env bash
# Creates .venv-airflow: Apache Airflow 3 + the Amazon provider + this project's runtime, from
# airflow/requirements.lock, for tests/airflow (DagBag import, task structure, real check tasks).
#
# Why a second venv: Airflow 3.3 bounds fastapi below 0.137 while kedro-viz resolves to a newer
# one in requirements.lock, so Airflow cannot join .venv without moving the project's own pins.
#
# Idempotent: when .venv-airflow was built from the current lock it says so and exits in well
# under a second. `tools/ensure_airflow_venv.sh --lock` re-pins airflow/requirements.lock after
# requirements.lock or airflow/requirements.in changed (every pin but fastapi comes from the
# project's lock).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv-airflow
LOCK=airflow/requirements.lock
STAMP="$VENV/.installed-from"

bootstrap_uv() {
    # uv installs the ~900 pinned wheels in parallel (pip takes several times longer); it is
    # put inside the venv itself so nothing outside the project changes.
    if [ ! -x "$VENV/bin/uv" ]; then
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check uv
    fi
}

if [ "${1:-}" = "--lock" ]; then
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    bootstrap_uv
    constraints="$(mktemp)"
    trap 'rm -f "$constraints"' EXIT
    grep -v -iE '^fastapi==' requirements.lock > "$constraints"
    "$VENV/bin/uv" pip compile pyproject.toml airflow/requirements.in -c "$constraints" \
        --python-version 3.11 --no-header --no-annotate -o "$LOCK"
    exit 0
fi

wanted="$(sha256sum "$LOCK" pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ] && [ -x "$VENV/bin/airflow" ]; then
    echo "ensure_airflow_venv: $VENV is present and matches $LOCK"
    exit 0
fi

started=$SECONDS
echo "ensure_airflow_venv: building $VENV from $LOCK (one-off, a few minutes)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
bootstrap_uv
# The lock is complete and exact, so no resolution happens here.
"$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -r "$LOCK"
"$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -e .
echo "$wanted" > "$STAMP"
echo "ensure_airflow_venv: $VENV ready in $((SECONDS - started)) s ($("$VENV/bin/airflow" version 2>/dev/null))"
