#!/bin/sh
# Installs the Debian packages libecom needs to build, test and run.
# Idempotent and quiet when everything is present. Needs root (or sudo) to install.
set -eu

PACKAGES="build-essential cmake pkg-config liblmdb-dev lmdb-utils libcjson-dev libcmocka-dev libstemmer-dev libsqlite3-dev python3"
# The fuzzers (cmake -DECOM_FUZZ=ON) also need clang and libclang-rt-14-dev.
case "${1:-}" in
    --fuzz) PACKAGES="$PACKAGES clang libclang-rt-14-dev" ;;
esac

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# On a fresh machine the package lists may be empty: update first if an install fails.
if ! $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
