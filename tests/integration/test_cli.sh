# The nraudit CLI (build/nraudit) on reports of the real Debian
# netty/tcnative scenarios: check passes or fails the gate, diff shows the
# per-engine residue growth, dump takes a fresh report from a running JVM,
# and every bad input is one "nraudit: error:" line with exit status 2.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

NRA="$NRAUDIT_BUILD/nraudit"
[ -x "$NRA" ] || fail "$NRA not built (cli/ missing from the build?)"
SSL='c("netty-tcnative-ssl")'

# run RC NAME CMD...: runs CMD, stdout to $WORK/NAME.out, stderr to
# $WORK/NAME.err; fails unless it exits RC.
run() {
    want="$1"; name="$2"; shift 2
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" && rc=0 || rc=$?
    [ "$rc" -eq "$want" ] || { cat "$WORK/$name.out" "$WORK/$name.err" >&2; fail "$name: exit $rc, expected $want"; }
}

# error NAME WORD CMD...: exit 2, nothing on stdout, exactly one stderr line
# "nraudit: error: ..." that contains WORD.
error() {
    name="$1"; word="$2"; shift 2
    run 2 "$name" "$@"
    [ ! -s "$WORK/$name.out" ] || { cat "$WORK/$name.out"; fail "$name: wrote to stdout"; }
    [ "$(wc -l <"$WORK/$name.err")" -eq 1 ] || { cat "$WORK/$name.err"; fail "$name: not one stderr line"; }
    grep -q '^nraudit: error: ' "$WORK/$name.err" || { cat "$WORK/$name.err"; fail "$name: not an error line"; }
    grep -q -- "$word" "$WORK/$name.err" || { cat "$WORK/$name.err"; fail "$name: error does not say '$word'"; }
    pass "$name: $(cat "$WORK/$name.err")"
}

# The finding lines check must print: one per finding of the given kinds,
# taken from the report itself.
expected_findings() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
kinds = sys.argv[2].split(",")
for res in r["resources"]:
    for f in res["findings"]:
        if f["kind"] in kinds:
            print("finding [%s] %s owners=%d bytes=%d: %s" % (res["rule"], f["kind"], f["owners"], f["bytes"], f["summary"]))
EOF
}

# ---- (1) check ------------------------------------------------------------
scenario "$JAVA17" churn "$WORK/churn" churn 200
$CHECK "$WORK/churn.json" "res('netty-tcnative-ssl')['findings'][0]['kind'] == 'residue'" \
    "res('netty-tcnative-ssl')['findings'][0]['bytes'] >= 200 * 32" >/dev/null || fail "churn report has no residue finding"
run 1 check-churn "$NRA" check "$WORK/churn.json"
expected_findings "$WORK/churn.json" residue,finalized_not_freed,collected_not_freed >"$WORK/expected"
grep '^finding ' "$WORK/check-churn.out" | diff "$WORK/expected" - || fail "check: finding lines differ from the report"
grep -q '^finding \[netty-tcnative-ssl\] residue owners=[0-9]* bytes=[0-9]*: .*SSL.newSSL' "$WORK/check-churn.out" \
    || fail "check: no residue line for SSL.newSSL"
TOTAL=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(f["bytes"] for x in r["resources"] for f in x["findings"] if f["kind"] != "pending_finalization"))' "$WORK/churn.json")
tail -1 "$WORK/check-churn.out" | grep -q "^FAIL: .* $TOTAL bytes" || { cat "$WORK/check-churn.out"; fail "check: verdict line"; }
pass "check fails the churn report: $(grep -c '^finding ' "$WORK/check-churn.out") finding(s), $TOTAL bytes"

run 0 check-max "$NRA" check "$WORK/churn.json" --max-bytes 100000000
tail -1 "$WORK/check-max.out" | grep -q '^PASS: .*within --max-bytes 100000000' || fail "check --max-bytes large: verdict"
run 0 check-max-equal "$NRA" check "$WORK/churn.json" --max-bytes "$TOTAL"
run 1 check-max-below "$NRA" check "$WORK/churn.json" --max-bytes=$((TOTAL - 1))
pass "check --max-bytes: $TOTAL passes, $((TOTAL - 1)) fails, 100000000 passes"

run 0 check-pending "$NRA" check "$WORK/churn.json" --fail-on pending_finalization
grep -q '^ignored \[netty-tcnative-ssl\] residue ' "$WORK/check-pending.out" || fail "check --fail-on pending_finalization: residue not listed as ignored"
grep -q '^finding ' "$WORK/check-pending.out" && fail "check --fail-on pending_finalization: counted a finding"
run 1 check-residue "$NRA" check "$WORK/churn.json" --fail-on=collected_not_freed,residue
pass "check --fail-on pending_finalization passes the churn report, --fail-on ...,residue fails it"

scenario "$JAVA17" jdk "$WORK/jdk" jdk-provider 20
run 3 check-jdk "$NRA" check "$WORK/jdk.json"
tail -1 "$WORK/check-jdk.out" | grep -q '^INCONCLUSIVE: nothing audited' || fail "check jdk-provider: verdict"
run 0 check-jdk-allowed "$NRA" check --allow-unaudited "$WORK/jdk.json"
tail -1 "$WORK/check-jdk-allowed.out" | grep -q '^PASS: no findings' || fail "check --allow-unaudited: verdict"
run 3 check-stdin sh -c "\"$NRA\" check - <\"$WORK/jdk.json\""
pass "check passes the JDK-provider report (also from stdin)"

# ---- (2) diff -------------------------------------------------------------
scenario "$JAVA17" churn100 "$WORK/c100" churn 100
scenario "$JAVA17" churn300 "$WORK/c300" churn 300
run 0 diff "$NRA" diff "$WORK/c100.json" "$WORK/c300.json"
awk '/^== netty-tcnative-ssl /{on=1; next} /^== /{on=0} on' "$WORK/diff.out" >"$WORK/diff-ssl"
grep -Eq '^  allocated +101 +301 +\+200$' "$WORK/diff-ssl" || { cat "$WORK/diff.out"; fail "diff: allocated row"; }
grep -Eq '^  residue bytes +3232 +9632 +\+6400$' "$WORK/diff-ssl" || { cat "$WORK/diff.out"; fail "diff: residue bytes row"; }
# The first site listed is the one that grew most: 200 x 32 bytes at SSL.newSSL.
awk '/^== residue sites/{on=1; next} on && /^  [+]/{print; n=1; next} on && n && /^      /{print; next} on && n{exit}' \
    "$WORK/diff.out" >"$WORK/diff-top"
head -1 "$WORK/diff-top" | grep -q '^  +6400 bytes, +200 allocations x 32 bytes  \[netty-tcnative-ssl\] grown' \
    || { cat "$WORK/diff.out"; fail "diff: top site is not +200 x 32 bytes"; }
grep -q '#0 libnetty_tcnative.so+0x[0-9a-f]*  io.netty.internal.tcnative.SSL.newSSL (native)' "$WORK/diff-top" \
    || { cat "$WORK/diff.out"; fail "diff: top site is not at SSL.newSSL"; }
pass "diff churn 100 -> 300: +6400 bytes = 200 x 32 bytes at SSL.newSSL"

run 0 diff-back "$NRA" diff "$WORK/c300.json" "$WORK/c100.json"
grep -q '\[netty-tcnative-ssl\] grown' "$WORK/diff-back.out" && fail "diff 300 -> 100: SSL site reported as grown"
run 0 diff-same "$NRA" diff "$WORK/c300.json" "$WORK/c300.json"
grep -q '^sites: 0 grew or appeared' "$WORK/diff-same.out" || fail "diff of a report with itself: something grew"
pass "diff the other way and with itself: nothing grows"

# ---- (3) dump -------------------------------------------------------------
"$JAVA17" "-agentpath:$AGENT=file=$WORK/hold-exit.json,format=json" -Djava.library.path="$JT/native" \
    -cp "$(classpath)" nraudit.demo.Scenarios hold 50 --certs "$JT/certs" --wait-file "$WORK/go" \
    --pid-file "$WORK/pid" >"$WORK/hold.out" 2>&1 &
HOLD=$!
PIDS="$HOLD"
wait_line "$WORK/hold.out" SCENARIO-DONE 60
PID=$(cat "$WORK/pid")
T0=$(python3 -c 'import time; print(int(time.time() * 1000))')
run 0 dump-json "$NRA" dump "$PID" --format json --out "$WORK/dump.json"
[ "$(cat "$WORK/dump-json.out")" = "nraudit dump: wrote $WORK/dump.json ($(wc -c <"$WORK/dump.json") bytes)" ] \
    || { cat "$WORK/dump-json.out"; fail "dump --out: not the one line naming the file it wrote"; }
$CHECK "$WORK/dump.json" 'r["trigger"] == "command"' "r['pid'] == $PID" "r['timestamp_ms'] >= $T0" \
    "$SSL['live'] == 50" "$SSL['outstanding'] == 50" || fail "dump --format json"
[ ! -e "$WORK/hold-exit.json" ] || fail "dump wrote to the start-up report file"
pass "dump --format json --out: a fresh command report, live == 50"

run 0 dump-text "$NRA" dump "$PID"
head -1 "$WORK/dump-text.out" | grep -q "^nraudit .* report (command) pid $PID" || { head -3 "$WORK/dump-text.out"; fail "dump text: header"; }
grep -q '^VERDICT: ' "$WORK/dump-text.out" || fail "dump text: no verdict"
grep -q 'netty-tcnative-ssl .* 50 outstanding' "$WORK/dump-text.out" || fail "dump text: 50 outstanding engines"
pass "dump (text) to stdout"

run 0 dump-pipe sh -c "\"$NRA\" dump $PID --format json | \"$NRA\" check - --fail-on collected_not_freed,finalized_not_freed"
pass "dump --format json | check -: held engines are no leak class"

# html: passed through; an agent that does not write it gives one error line.
"$NRA" dump "$PID" --format html --timeout 20 >"$WORK/dump-html.out" 2>"$WORK/dump-html.err" && rc=0 || rc=$?
if [ "$rc" -eq 0 ]; then
    [ -s "$WORK/dump-html.out" ] || fail "dump --format html: empty output"
    pass "dump --format html: the agent wrote html"
else
    [ "$rc" -eq 2 ] && [ "$(wc -l <"$WORK/dump-html.err")" -eq 1 ] && grep -q '^nraudit: error: .*html' "$WORK/dump-html.err" \
        || { cat "$WORK/dump-html.err"; fail "dump --format html: exit $rc"; }
    pass "dump --format html: agent's refusal reported: $(cat "$WORK/dump-html.err")"
fi

# Every temp directory the agent wrote to is gone.
grep -o 'report (command) written to [^ ]*' "$WORK/hold.out" | sed 's/.* to //' >"$WORK/tmpfiles"
[ "$(wc -l <"$WORK/tmpfiles")" -ge 3 ] || { cat "$WORK/hold.out"; fail "agent did not log its command reports"; }
while read -r f; do
    [ ! -e "$(dirname "$f")" ] || fail "dump left $(dirname "$f") behind"
done <"$WORK/tmpfiles"
pass "dump removed its temp files"

touch "$WORK/go"
wait "$HOLD" || fail "hold scenario exit status"
PIDS=""

if have_java25; then
    "$JAVA25" "-agentpath:$AGENT=file=$WORK/h25-exit.json,format=json" -Djava.library.path="$JT/native" \
        --enable-native-access=ALL-UNNAMED -cp "$(classpath)" nraudit.demo.Scenarios hold 7 --certs "$JT/certs" \
        --wait-file "$WORK/go25" --pid-file "$WORK/pid25" >"$WORK/h25.out" 2>&1 &
    H25=$!
    PIDS="$H25"
    wait_line "$WORK/h25.out" SCENARIO-DONE 60
    # No JAVA_HOME: the jcmd next to the JVM's java.
    run 0 dump25 env -u JAVA_HOME "$NRA" dump "$(cat "$WORK/pid25")" --format json --out "$WORK/d25.json"
    $CHECK "$WORK/d25.json" 'r["trigger"] == "command"' "$SSL['live'] == 7" || fail "dump on JDK 25"
    touch "$WORK/go25"
    wait "$H25" || fail "JDK 25 hold scenario exit status"
    PIDS=""
    pass "dump on Temurin 25 (its own jcmd)"
else
    echo "SKIP: Temurin 25 not installed at $JAVA25"
fi

# ---- (4) errors -----------------------------------------------------------
printf '{"schema": "nraudit/report-v1", "resources": [' >"$WORK/broken.json"
printf '{"schema": "something/else", "resources": []}\n' >"$WORK/other.json"
printf '[1, 2, 3]\n' >"$WORK/array.json"
error missing-file "$WORK/none.json" "$NRA" check "$WORK/none.json"
error invalid-json "invalid JSON" "$NRA" check "$WORK/broken.json"
error not-a-report "not an nraudit report" "$NRA" check "$WORK/other.json"
error not-an-object "not an nraudit report" "$NRA" diff "$WORK/churn.json" "$WORK/array.json"
error diff-missing "none.json" "$NRA" diff "$WORK/none.json" "$WORK/churn.json"
error unknown-verb "unknown verb 'frobnicate'" "$NRA" frobnicate
error no-verb "no verb" "$NRA"
error unknown-option "unknown option '--bogus'" "$NRA" check "$WORK/churn.json" --bogus
error bad-number "max-bytes 'lots'" "$NRA" check "$WORK/churn.json" --max-bytes lots
error negative-number "max-bytes '-1'" "$NRA" check "$WORK/churn.json" --max-bytes -1
error bad-kind "unknown finding kind 'leaks'" "$NRA" check "$WORK/churn.json" --fail-on leaks
error bad-timeout "timeout 'soon'" "$NRA" dump 1 --timeout soon
error bad-pid "not a pid" "$NRA" dump 12abc
error dump-self "pid $$ has no nraudit agent loaded" "$NRA" dump $$
sleep 30 &
SLEEPER=$!
PIDS="$SLEEPER"
error dump-sleep "pid $SLEEPER has no nraudit agent loaded (start the JVM with -agentpath:" "$NRA" dump "$SLEEPER"
kill "$SLEEPER" 2>/dev/null || true
wait "$SLEEPER" 2>/dev/null || true
PIDS=""
DEAD=$(python3 -c 'import os; print(os.getpid())')
error dump-no-process "no process with pid $DEAD" "$NRA" dump "$DEAD"

# ---- help -----------------------------------------------------------------
run 0 help "$NRA" --help
grep -q '^usage: nraudit <verb>' "$WORK/help.out" || fail "--help"
for verb in dump check diff; do
    run 0 "help-$verb" "$NRA" help "$verb"
    grep -q "^usage: nraudit $verb" "$WORK/help-$verb.out" || fail "help $verb"
    run 0 "help2-$verb" "$NRA" "$verb" --help
    cmp -s "$WORK/help-$verb.out" "$WORK/help2-$verb.out" || fail "$verb --help differs from help $verb"
done
pass "--help, help VERB and VERB --help"
