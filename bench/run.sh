#!/bin/sh
# Runs every nraudit benchmark and prints markdown tables (docs/performance.md
# explains them). Benchmarks, not tests: nothing here is registered with ctest.
#
# Usage: sh bench/run.sh [BUILD_DIR]        (default $NRAUDIT_BUILD, else <repo>/build)
#
# Builds the `benchmarks` target first (agent, hooks_bench, EngineChurn,
# java-test's tcnative copy and certificates), configuring BUILD_DIR if needed.
# Environment:
#   BENCH_PARTS   which parts, in order (default: all of them)
#                 "hooks churn owner tools safepoints profile"
#   BENCH_NOBUILD=1  do not build
#
# Parts and their time on the 2-core dev machine:
#   hooks       hooks_bench + callgrind instruction counts         ~0.5 min
#   churn       EngineChurn (OPENSSL_REFCNT), agent options         ~3 min
#   owner       EngineChurn, both providers: owner-hook cost        ~3 min
#   tools       EngineChurn under gperftools and heaptrack          ~2.5 min
#   safepoints  -Xlog:safepoint,handshake during the churn          ~0.5 min
#   profile     perf attribution of the agent's per-engine cost     ~1 min
# Each part can also be run alone: bench/hooks.sh, bench/churn.py, bench/profile.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-${NRAUDIT_BUILD:-$here/../build}}
parts=${BENCH_PARTS:-hooks churn owner tools safepoints profile}

if [ "${BENCH_NOBUILD:-0}" != 1 ]; then
    if [ ! -f "$build/CMakeCache.txt" ]; then
        cmake -S "$here/.." -B "$build" >&2
    fi
    cmake --build "$build" -j2 --target benchmarks >&2
fi
build=$(cd "$build" && pwd)

churn() {
    python3 "$here/churn.py" --build "$build" "$@"
}

echo "# nraudit benchmarks"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- kernel: $(uname -r); JDK: $(java -version 2>&1 | head -1)"
echo "- agent: $(git -C "$here/.." describe --always --dirty 2>/dev/null || echo '?'), $build/libnraudit.so"

for part in $parts; do
    case $part in
    hooks)
        sh "$here/hooks.sh" "$build"
        ;;
    churn)
        churn --title "Engine churn (OPENSSL_REFCNT): the agent and its options" \
            --configs "baseline default java_sample=16 java_depth=0 hook=none"
        ;;
    owner)
        churn --title "Engine churn, both providers: without malloc hooks and Java stacks (owner hooks + wrappers + registry remain)" \
            --configs "baseline default hook=none,java_depth=0" --provider refcnt,openssl \
            --count 20000 --reps 5
        ;;
    tools)
        churn --title "Engine churn (OPENSSL_REFCNT): the agent next to gperftools and heaptrack" \
            --configs "baseline default gperftools heaptrack" --tool-count 1500 --tool-reps 3
        ;;
    safepoints)
        churn --title "Safepoints during the churn (-Xmx64m so that young GCs happen)" --safepoints \
            --configs "baseline default" --provider refcnt,openssl --count 50000 --rounds 2 \
            --reps 2 --heap 64m
        ;;
    profile)
        sh "$here/profile.sh" "$build"
        ;;
    *)
        echo "run.sh: unknown part '$part' (hooks churn owner tools safepoints profile)" >&2
        exit 2
        ;;
    esac
done
