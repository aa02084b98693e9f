# jcmd <pid> JVMTI.agent_load <agent> report,...: on a JVM that loaded the
# agent at start-up, writes a report with the given settings; on a JVM that
# did not, a clear message and no harm.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

"$JAVA17" "-agentpath:$AGENT=file=$WORK/start.json,format=json" -Djava.library.path="$JT/native" -cp "$(classpath)" \
    nraudit.demo.Scenarios hold 40 --certs "$JT/certs" --wait-file "$WORK/go" --pid-file "$WORK/pid" \
    >"$WORK/out" 2>&1 &
PIDS="$!"
wait_line "$WORK/out" SCENARIO-DONE 60
PID=$(cat "$WORK/pid")
# jcmd's parser splits an unquoted token at '=': quote the options...
jcmd "$PID" JVMTI.agent_load "$AGENT" "\"report,format=json,file=$WORK/cmd-%p.json\"" >"$WORK/jcmd.out" 2>&1 \
    || { cat "$WORK/jcmd.out"; fail "jcmd agent_load report failed"; }
[ -s "$WORK/cmd-$PID.json" ] || { cat "$WORK/jcmd.out" "$WORK/out"; fail "no command report"; }
$CHECK "$WORK/cmd-$PID.json" 'r["trigger"] == "command"' 'c("netty-tcnative-ssl")["live"] == 40' || fail "command report"
[ ! -e "$WORK/start.json" ] || fail "the command wrote to the start-up file"
pass "command channel: report with the command's file and format"
# ...or write key:value, which needs no quoting.
jcmd "$PID" JVMTI.agent_load "$AGENT" "report,format:text,file:$WORK/cmd2.txt" >"$WORK/jcmd2.out" 2>&1 \
    || { cat "$WORK/jcmd2.out"; fail "jcmd agent_load report (key:value) failed"; }
head -3 "$WORK/cmd2.txt" | grep -q "VERDICT" || fail "no text report from key:value command"
pass "command channel: key:value options need no quoting"

# A bad command: one error line, the JVM keeps running.
jcmd "$PID" JVMTI.agent_load "$AGENT" "report,format:xml" >"$WORK/bad.out" 2>&1 || true
grep -q "nraudit: error: format=xml" "$WORK/out" || { cat "$WORK/out"; fail "bad command not reported"; }
kill -0 "$PID" || fail "JVM died after a bad command"
touch "$WORK/go"
wait || fail "JVM exit status after commands"
[ -s "$WORK/start.json" ] || fail "no exit report after commands"
pass "bad command: one error line, JVM unharmed, exit report written"

# Loaded late into a JVM that did not start with it.
"$JAVA17" -Djava.library.path="$JT/native" -cp "$(classpath)" nraudit.demo.Scenarios hold 10 --certs "$JT/certs" \
    --wait-file "$WORK/go2" --pid-file "$WORK/pid2" >"$WORK/out2" 2>&1 &
PIDS="$PIDS $!"
wait_line "$WORK/out2" SCENARIO-DONE 60
PID2=$(cat "$WORK/pid2")
jcmd "$PID2" JVMTI.agent_load "$AGENT" "report,format:json,file:$WORK/late.json" >"$WORK/late.out" 2>&1 || true
grep -q "nraudit: error: nraudit must be loaded at JVM start-up" "$WORK/out2" || { cat "$WORK/out2" "$WORK/late.out"; fail "no late-load message"; }
[ ! -e "$WORK/late.json" ] || fail "late load wrote a report"
kill -0 "$PID2" || fail "JVM died after a late load"
touch "$WORK/go2"
wait "$!" 2>/dev/null || true
pass "late load: clear message, no report, JVM unharmed"
