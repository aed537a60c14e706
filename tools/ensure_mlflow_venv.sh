#!/usr/bin/env bash
# Creates .venv-mlflow: the full MLflow (UI and server) at the version of the runtime's
# mlflow-skinny, pinned by tools/mlflow_ui.lock, for `mlflow ui` on the project's tracking
# store and for tests/tracking/test_mlflow_ui.py.
#
# Why a second venv: the project records runs with mlflow-skinny (no UI, no server). The full
# mlflow package pins pyarrow below 26 and cryptography below 51, which would move the
# project's own pins, and brings Flask, gunicorn, graphene and docker that a training task
# never uses. Same version on both sides (tools/mlflow_ui.lock is compiled from the
# mlflow-skinny pin in requirements.lock), so the SQLite store's schema matches.
#
# Idempotent: when .venv-mlflow was built from the current lock it says so and exits in well
# under a second. `tools/ensure_mlflow_venv.sh --lock` re-pins tools/mlflow_ui.lock after
# mlflow-skinny moved in requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv-mlflow
LOCK=tools/mlflow_ui.lock
STAMP="$VENV/.installed-from"

bootstrap_uv() {
    if [ ! -x "$VENV/bin/uv" ]; then
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check uv
    fi
}

if [ "${1:-}" = "--lock" ]; then
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    bootstrap_uv
    version="$(grep -E '^mlflow-skinny==' requirements.lock | cut -d= -f3)"
    echo "mlflow==$version" | "$VENV/bin/uv" pip compile - --python-version 3.11 \
        --no-header --no-annotate -o "$LOCK"
    exit 0
fi

wanted="$(sha256sum "$LOCK" | cut -c1-16)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ] && [ -x "$VENV/bin/mlflow" ]; then
    echo "ensure_mlflow_venv: $VENV is present and matches $LOCK"
    exit 0
fi

started=$SECONDS
echo "ensure_mlflow_venv: building $VENV from $LOCK (one-off, about a minute)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
bootstrap_uv
"$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -r "$LOCK"
echo "$wanted" > "$STAMP"
echo "ensure_mlflow_venv: $VENV ready in $((SECONDS - started)) s ($("$VENV/bin/mlflow" --version))"
