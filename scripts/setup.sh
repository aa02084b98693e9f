#!/bin/sh
# Installs what a fresh Debian 12 machine lacks to build and test nraudit.
# Idempotent: asks apt only for packages that are not installed yet.
set -eu
PKGS="cmake make gcc pkg-config openssl openjdk-17-jdk-headless \
libunwind-dev uthash-dev libcmocka-dev libjson-c-dev \
libnetty-java libnetty-tcnative-java libnetty-tcnative-jni zlib1g-dev \
google-perftools graphviz python3 chromium fonts-dejavu-core"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "nraudit: error: missing packages:$missing (run this script as root, or install them)" >&2
    exit 1
fi
echo "nraudit: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends $missing >/tmp/nraudit-apt.log 2>&1; then
    apt-get update >>/tmp/nraudit-apt.log 2>&1 || true
    apt-get install -y --no-install-recommends $missing >>/tmp/nraudit-apt.log 2>&1 || {
        echo "nraudit: error: apt-get could not install:$missing (see /tmp/nraudit-apt.log)" >&2
        exit 1
    }
fi
