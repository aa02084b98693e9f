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
#                 "hooks churn owner tools safepoints profile trust contexts
#                  handshake handshake-default build scale pause"
#   BENCH_NOBUILD=1  do not build
#
# Parts and their time on the 2-core dev machine (quiet; up to twice as long
# when it is busy):
#   hooks       hooks_bench + callgrind instruction counts         ~0.5 min
#   churn       EngineChurn (OPENSSL_REFCNT), agent options         ~3 min
#   owner       EngineChurn, both providers: owner-hook cost        ~3 min
#   tools       EngineChurn under gperftools and heaptrack          ~2.5 min
#   safepoints  -Xlog:safepoint,handshake during the churn          ~0.5 min
#   profile     perf attribution of the agent's per-engine cost     ~1 min
#   trust       churn on a default-trust context (JVM trust store,
#               ~144 CAs, no client auth): baseline, default,
#               hook=none                                           ~1.5 min
#   contexts    the same with 20 contexts, engines round-robin      ~1.5 min
#   handshake   in-memory TLS handshakes (1-CA server with client
#               auth; client engine trusts ca.pem)                  ~1.5 min
#   handshake-default  the same against a default-trust server      ~1 min
#   build       SslContext build + release, 1-CA and default trust  ~2 min
#   scale       1M engines in one JVM under the agent (exit-report
#               RSS, time, residue counts vs truth; bench/scale.py) ~0.3 min
#   pause       stop-the-world pause of a report (bench/pause.py): K =
#               100k/500k/1M zombie engines, data dump + exit report,
#               JDK 17 and Temurin 25 (when installed), 3 JVMs each;
#               then data dumps every ~1 s during a 12 s 2-thread storm   ~3.5 min
# Each part can also be run alone: bench/hooks.sh, bench/churn.py, bench/profile.sh,
# bench/scale.py, bench/pause.py (the churn.py command lines below show the shapes).
# Environment for scale: SCALE_ENGINES (default 1000000), SCALE_MAX_ALLOCS
# (max_allocs=K for the agent; default the agent's). For pause: PAUSE_KS (zombie
# counts, default 100000,500000,1000000), PAUSE_REPS (default 3), PAUSE_JDKS
# (java launchers, default java and Temurin 25).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-${NRAUDIT_BUILD:-$here/../build}}
all_parts="hooks churn owner tools safepoints profile trust contexts handshake handshake-default build scale pause"
parts=${BENCH_PARTS:-$all_parts}

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
    trust)
        churn --title "Engine churn (OPENSSL_REFCNT) on a default-trust context (JVM trust store, ~144 CAs)" \
            --configs "baseline default hook=none" --trust default
        ;;
    contexts)
        churn --title "Engine churn (OPENSSL_REFCNT) over 20 default-trust contexts, round-robin" \
            --configs "baseline default" --trust default --contexts 20
        ;;
    handshake)
        churn --title "In-memory TLS handshakes (OPENSSL_REFCNT), 1-CA server with client auth" \
            --configs "baseline default" --mode handshake
        ;;
    handshake-default)
        churn --title "In-memory TLS handshakes (OPENSSL_REFCNT), default-trust server (~144 CAs, no client auth)" \
            --configs "baseline default" --mode handshake --trust default --reps 3
        ;;
    build)
        churn --title "SslContext build + release (OPENSSL_REFCNT), 1-CA server context" \
            --configs "baseline default" --mode build --reps 3
        churn --title "SslContext build + release (OPENSSL_REFCNT), default-trust server context (~144 CAs)" \
            --configs "baseline default" --mode build --trust default --reps 3
        ;;
    scale)
        set -- --engines "${SCALE_ENGINES:-1000000}"
        if [ -n "${SCALE_MAX_ALLOCS:-}" ]; then
            set -- "$@" --max-allocs "$SCALE_MAX_ALLOCS"
        fi
        python3 "$here/scale.py" --build "$build" "$@"
        ;;
    pause)
        set -- --ks "${PAUSE_KS:-100000,500000,1000000}" --reps "${PAUSE_REPS:-3}"
        if [ -n "${PAUSE_JDKS:-}" ]; then
            set -- "$@" --jdks "$PAUSE_JDKS"
        fi
        python3 "$here/pause.py" --build "$build" "$@"
        ;;
    *)
        echo "run.sh: unknown part '$part' ($all_parts)" >&2
        exit 2
        ;;
    esac
done
