#!/bin/sh
# Set-up (Debian packages, only what is missing) and build into ./build.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >build-configure.log 2>&1 || {
    cat build-configure.log >&2; echo "nraudit: error: cmake configure failed" >&2; exit 1; }
cmake --build build -j"$(nproc)" >build-make.log 2>&1 || {
    tail -40 build-make.log >&2; echo "nraudit: error: build failed (see build-make.log)" >&2; exit 1; }
rm -f build-configure.log build-make.log
