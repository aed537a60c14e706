#!/usr/bin/env bash
# Installs Debian's `chromium` for the kedro-viz browser test (tests/test_kedro_viz.py).
# Idempotent: when a chromium binary is already on PATH it only says so and exits.
# Run by `make browser`, never by `make test`. Never fails: if the install is impossible (no root, no apt, no network), it
# says why and the browser test skips with that reason instead of passing silently.
set -uo pipefail

for candidate in chromium chromium-browser; do
    if command -v "$candidate" >/dev/null 2>&1; then
        echo "ensure_chromium: $(command -v "$candidate") is present"
        exit 0
    fi
done

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: no apt-get on this machine; install Chromium by hand to run the kedro-viz browser test" >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure_chromium: not root and no password-less sudo; cannot install chromium" >&2
        exit 0
    fi
fi

echo "ensure_chromium: installing Debian package chromium (one-off, about a minute)"
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get update -qq \
    && $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; then
    echo "ensure_chromium: installed $(command -v chromium)"
else
    echo "ensure_chromium: apt-get could not install chromium; the kedro-viz browser test will skip" >&2
fi
exit 0
