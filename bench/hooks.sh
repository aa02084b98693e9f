#!/bin/sh
# Microbenchmark of the agent's malloc/free hooks (bench/hooks_bench.c):
# ns per malloc+free pair through the hooks vs the real allocator, memory per
# tracked allocation, and (when valgrind is installed) the exact instruction
# count per pair under callgrind, which the machine's noise does not touch.
# Not a test; run by hand. ~1 min.
#
# Usage: sh bench/hooks.sh [BUILD_DIR]     (default $NRAUDIT_BUILD, else <repo>/build)
# Environment: HOOKS_PAIRS (pairs per repetition, default 2000000), HOOKS_REPS (7).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-${NRAUDIT_BUILD:-$here/../build}}
. "$build/bench/env.sh"

echo
echo "### Hook microbenchmark (hooks_bench)"
echo
echo "nra_stacks_init(65536), nra_alloc_init(1<<20); hooks called through the pointers of"
echo "nra_alloc_hook_for(\"malloc\"/\"free\"), the real functions through nra_real_malloc/nra_real_free."
echo "Target: hook overhead per malloc+free pair (hooked minus real) ≤ 30 ns outside a scope,"
echo "≤ 200 ns inside one (stack capture excluded: every signature is captured in a warm-up)."
"$NB_HOOKS_BENCH" --pairs "${HOOKS_PAIRS:-2000000}" --reps "${HOOKS_REPS:-7}"

if command -v valgrind >/dev/null 2>&1; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/nraudit-cg.XXXXXX")
    trap 'rm -rf "$work"' EXIT INT TERM
    pairs=32000
    valgrind --tool=callgrind --zero-before=timed_run --dump-after=timed_run \
        --callgrind-out-file="$work/cg.out" "$NB_HOOKS_BENCH" --no-mem --reps 1 --pairs $pairs \
        --threads 1 >/dev/null 2>"$work/valgrind.log" || { tail -5 "$work/valgrind.log" >&2; exit 1; }
    echo
    echo "Instructions per malloc+free pair (callgrind, 1 thread, $pairs pairs; exact, noise-free):"
    echo
    echo "| case | real Ir/pair | hooked Ir/pair | hook overhead Ir/pair |"
    echo "|---|---:|---:|---:|"
    # Dumps come in order: A real, A hooked, B real, B hooked, C ..., D ...
    for f in $(ls "$work"/cg.out.* | sort -t. -k3 -n); do
        sed -n 's/^summary: *//p' "$f" | head -1
    done | awk -v p=$pairs 'BEGIN { split("A outside scope, empty table|B outside scope, 10k live entries|C inside scope (signatures cached)|D inside scope, FIFO-freed", name, "|") }
        NR % 2 == 1 { r = $1 / p; next }
        { h = $1 / p; printf "| %s | %.0f | %.0f | %+.0f |\n", name[NR / 2], r, h, h - r }'
else
    echo
    echo "(valgrind not installed: no instruction counts)"
fi
