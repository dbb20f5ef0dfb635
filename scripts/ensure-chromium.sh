#!/bin/sh
# Make sure Debian's Chromium is installed for the browser tests (tests/web/).
#
# Playwright drives it through executable_path=/usr/bin/chromium; Playwright's own
# browser download is not used.  Installs the `chromium` package with apt-get when it
# is missing (as root, or through passwordless sudo as on CI runners); does nothing
# when it is present.  `make test` runs this before the suite.
set -eu

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "chromium: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM") (already installed)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: $CHROMIUM is missing and apt-get is not available; install Chromium yourself" \
         "(or set CHROMIUM to its path) to run the browser tests" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "error: $CHROMIUM is missing; installing Debian's chromium package needs root:" >&2
        echo "       sudo apt-get update && sudo apt-get install -y chromium" >&2
        exit 1
    fi
fi

echo "chromium: not found at $CHROMIUM; installing Debian's chromium package ..."
echo "chromium: apt-get update ..."
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
echo "chromium: apt-get install -y chromium (a minute or two) ..."
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-liberation
if [ ! -x "$CHROMIUM" ]; then
    echo "error: apt-get installed chromium but $CHROMIUM does not exist" >&2
    exit 1
fi
echo "chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
