#!/bin/sh
# Builds nraudit and runs every test: cmocka unit tests and integration tests
# that start real JVMs against the Debian netty/tcnative packages.
set -eu
cd "$(dirname "$0")/.."
sh scripts/build.sh
cd build
ctest --output-on-failure -j2 --timeout 600
