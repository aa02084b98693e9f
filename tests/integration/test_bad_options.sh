# Bad agent options: one "nraudit: error:" line naming the key, the JVM does
# not start (non-zero exit), and no core or hs_err file is left.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

cd "$WORK"
ulimit -c unlimited 2>/dev/null || true
check_refused() {
    opts="$1"; word="$2"
    set +e
    "$JAVA17" "-agentpath:$AGENT=$opts" -version >out.txt 2>err.txt
    rc=$?
    set -e
    [ "$rc" -ne 0 ] || fail "'$opts': JVM exited 0"
    n=$(grep -c '^nraudit: error: ' err.txt || true)
    [ "$n" -eq 1 ] || { cat err.txt; fail "'$opts': expected one nraudit error line, got $n"; }
    grep '^nraudit: error: ' err.txt | grep -q -- "$word" || { cat err.txt; fail "'$opts': error does not name '$word'"; }
    ls core* hs_err_pid* >/dev/null 2>&1 && fail "'$opts': core or hs_err file left"
    pass "'$opts' refused: $(grep '^nraudit: error: ' err.txt)"
}
check_refused "nonsense=1" "nonsense"
check_refused "format=xml" "format=xml"
check_refused "file=" "file="
check_refused "log=loud" "log=loud"
check_refused "java_depth=abc" "java_depth"
check_refused "format=json,,log=info" "empty option"
check_refused "rules=/nonexistent/nraudit.rules" "rules="

# And good options start the JVM normally.
"$JAVA17" "-agentpath:$AGENT=file=$WORK/ok,format=json,log=quiet" -version >/dev/null 2>err.txt || { cat err.txt; fail "good options refused"; }
[ -s "$WORK/ok.json" ] || fail "no exit report with good options"
pass "good options accepted, exit report written"
