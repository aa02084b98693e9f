#!/bin/sh
# Where the agent's per-engine cost goes: perf record (DWARF call graphs) of
# one EngineChurn JVM per provider under the agent (default options), then
# bench/perf_attrib.py attributes the churning threads' CPU samples to the
# agent's parts (see that file). Not a test; run by hand. ~1.5 min.
#
# Usage: sh bench/profile.sh [BUILD_DIR] [AGENT_OPTIONS]
#   BUILD_DIR: default $NRAUDIT_BUILD, else <repo>/build (needs target `benchmarks`)
#   AGENT_OPTIONS: appended to file=...,log=quiet (e.g. ",java_sample=16")
# Environment: PROFILE_COUNT (engines per round, default 100000), PROFILE_FREQ
# (Hz, default 999), PROFILE_PROVIDERS (default "refcnt openssl"),
# PROFILE_THREADS (churning threads, default 1).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-${NRAUDIT_BUILD:-$here/../build}}
extra=${2:-}
count=${PROFILE_COUNT:-100000}
freq=${PROFILE_FREQ:-999}
providers=${PROFILE_PROVIDERS:-refcnt openssl}
threads=${PROFILE_THREADS:-1}
rounds=2
twarm=2000

if ! command -v perf >/dev/null 2>&1; then
    echo "profile.sh: perf not installed: skipped" >&2
    exit 0
fi
. "$build/bench/env.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/nraudit-profile.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

for provider in $providers; do
    if ! perf record -q --call-graph dwarf,16384 -F "$freq" -o "$work/perf.data" \
        "$NB_JAVA" "-agentpath:$NB_AGENT=file=$work/report,log=quiet$extra" -Xms512m -Xmx512m \
        -Djava.library.path="$NB_NATIVE" -cp "$NB_CLASSPATH" nraudit.bench.EngineChurn \
        --certs "$NB_CERTS" --provider "$provider" --threads "$threads" --warmup 20000 \
        --thread-warmup "$twarm" --count "$count" --rounds "$rounds" >"$work/out.txt" 2>&1; then
        echo "profile.sh: perf record failed (perf_event_paranoid? run as root):" >&2
        tail -5 "$work/out.txt" >&2
        exit 1
    fi
    cpu=$(sed -n 's/.* cpu_ns_per_engine=\([0-9]*\).*/\1/p' "$work/out.txt" | sort -n | head -1)
    echo
    echo "#### perf attribution: provider $provider, agent options 'file=...,log=quiet$extra', $threads thread(s)"
    echo
    echo "Best round without perf's own overhead: see the churn tables; in this perf run the best round took ${cpu:-?} ns CPU per engine."
    echo
    perf script --no-inline -i "$work/perf.data" 2>/dev/null |
        python3 "$here/perf_attrib.py" --freq "$freq" --engines $((threads * twarm + rounds * count)) \
            --all-engines $((20000 + threads * twarm + rounds * count)) \
            --title "provider $provider: where the churn thread's CPU goes"
    rm -f "$work/perf.data"
done
