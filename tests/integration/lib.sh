# Shared helpers for the integration tests (sourced, POSIX sh).
# Environment from ctest: NRAUDIT_BUILD (build dir), NRAUDIT_SOURCE.
set -eu

: "${NRAUDIT_BUILD:?run through ctest (NRAUDIT_BUILD unset)}"
: "${NRAUDIT_SOURCE:?run through ctest (NRAUDIT_SOURCE unset)}"
AGENT="$NRAUDIT_BUILD/libnraudit.so"
JT="$NRAUDIT_BUILD/java-test"
JAVA17="${JAVA17:-java}"
JAVA25="${JAVA25:-/usr/lib/jvm/temurin-25-jdk-amd64/bin/java}"
CHECK="python3 $NRAUDIT_SOURCE/tests/integration/check_report.py"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nraudit-it.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "PASS: $*"; }

classpath() { cat "$JT/classpath.txt"; }

# wait_for FILE SECONDS: wait until FILE exists.
wait_for() {
    i=0
    while [ ! -e "$1" ]; do
        i=$((i + 1))
        [ "$i" -gt $(($2 * 10)) ] && fail "timed out waiting for $1"
        sleep 0.1
    done
}

# wait_line FILE PATTERN SECONDS: wait until FILE contains a line matching PATTERN.
wait_line() {
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -gt $(($3 * 10)) ] && { cat "$1" >&2 || true; fail "timed out waiting for '$2' in $1"; }
        sleep 0.1
    done
}

have_java25() { [ -x "$JAVA25" ]; }

# run_java JAVA OUTFILE AGENT_OPTS ARGS...: runs a java-test program under the
# agent with the tcnative copy on java.library.path.
run_java() {
    j="$1"; out="$2"; opts="$3"; shift 3
    "$j" "-agentpath:$AGENT=$opts" -Djava.library.path="$JT/native" \
        --enable-native-access=ALL-UNNAMED -cp "$(classpath)" "$@" >"$out" 2>&1
}

# scenario JAVA NAME REPORT_BASE SCENARIO COUNT [extra java args...]: runs a
# Scenarios program to completion (exit report REPORT_BASE.json).
scenario() {
    j="$1"; name="$2"; base="$3"; sc="$4"; n="$5"; shift 5
    "$j" "-agentpath:$AGENT=file=$base.json,format=json" "$@" -Djava.library.path="$JT/native" \
        -cp "$(classpath)" nraudit.demo.Scenarios "$sc" "$n" --certs "$JT/certs" >"$base.out" 2>&1 \
        || { tail -20 "$base.out"; fail "$name: scenario $sc exited non-zero"; }
    grep -q SCENARIO-DONE "$base.out" || fail "$name: scenario $sc did not finish"
    [ -s "$base.json" ] || fail "$name: no exit report"
}
