# The demo service under the agent (real Debian netty 4.1.48 + tcnative
# 2.0.28): N short MQTT-over-TLS connections and M long-lived ones, a
# jcmd-triggered report mid-run and the exit report.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

N=${DEMO_SHORT:-200}
M=${DEMO_LONG:-5}
CP="$(classpath)"
java -agentpath:"$AGENT=file=$WORK/report-%p,format=text+json" -Djava.library.path="$JT/native" -cp "$CP" \
    nraudit.demo.MqttTlsServer --certs "$JT/certs" --port 0 --port-file "$WORK/port" \
    --exit-after-file "$WORK/stop" >"$WORK/server.out" 2>&1 &
SERVER=$!
PIDS="$SERVER"
wait_line "$WORK/server.out" "READY port=" 60

java -cp "$CP" -Djava.library.path="$JT/native" nraudit.demo.MqttLoadClient --certs "$JT/certs" \
    --port-file "$WORK/port" --connections 0 --long-lived "$M" --hold-file "$WORK/release-long" \
    >"$WORK/long.out" 2>&1 &
LONG=$!
PIDS="$PIDS $LONG"
java -cp "$CP" -Djava.library.path="$JT/native" nraudit.demo.MqttLoadClient --certs "$JT/certs" \
    --port-file "$WORK/port" --connections "$N" --concurrency 8 >"$WORK/short.out" 2>&1 \
    || { cat "$WORK/short.out"; fail "short client failed"; }
grep -q "DONE short=$N long=0 failed=0" "$WORK/short.out" || { cat "$WORK/short.out"; fail "short connections"; }
pass "$N short connections done"

# Mid-run report: the M long-lived connections are still open (their engines
# are outstanding); every other engine has been freed.
sleep 1
jcmd "$SERVER" JVMTI.data_dump >"$WORK/jcmd.out" 2>&1 || { cat "$WORK/jcmd.out"; fail "jcmd failed"; }
MID="$WORK/report-$SERVER.json"
wait_for "$MID" 30
grep -q '"trigger":"datadump"' "$MID" || fail "mid-run report not from the data dump"
cp "$MID" "$WORK/mid.json"
cp "$WORK/report-$SERVER.txt" "$WORK/mid.txt"
SSL='c("netty-tcnative-ssl")'
$CHECK "$WORK/mid.json" \
    'r["trigger"] == "datadump"' \
    "$SSL['allocated'] == $SSL['freed'] + $SSL['outstanding']" \
    "$SSL['outstanding'] == $M" \
    "$SSL['allocated'] == $N + $M + 1" \
    "$SSL['live'] == $M" \
    'c("netty-tcnative-ctx")["outstanding"] == 1' \
    'c("netty-tcnative-ctx")["live"] == 1' \
    || fail "mid-run report counts"
pass "mid-run report: $M outstanding engines, all live; one live context"

# Native residue (netty-tcnative #532): one 32-byte tcn_ssl_state_t per freed
# engine, allocated in SSL.newSSL, never freed.
$CHECK "$WORK/mid.json" \
    'res("netty-tcnative-ssl")["findings"][0]["kind"] == "residue"' \
    "sum(s['allocations'] for s in sites('netty-tcnative-ssl') if s['repeating'] and s['size_each'] == 32 and any('SSL.newSSL' in f['symbol'] for f in s['native_stack'])) == $SSL['freed']" \
    "$SSL['freed_with_residue'] == $SSL['freed']" \
    "all(s['native_stack'][-1]['library'].startswith('libnetty_tcnative.so') for s in sites('netty-tcnative-ssl') if s['size_each'] == 32)" \
    "not any('JNI_On' in f['symbol'] for s in sites('netty-tcnative-ssl') for f in s['native_stack'])" \
    "res('netty-tcnative-ssl')['findings'][0]['known_leak']['id'] == 'netty-tcnative #532'" \
    "'matches netty-tcnative #532' in res('netty-tcnative-ssl')['findings'][0]['summary']" \
    "'upgrade to ≥ 2.0.30.Final' in res('netty-tcnative-ssl')['findings'][0]['summary']" \
    "len([f for f in res('netty-tcnative-ssl')['findings'] if f['kind'] == 'residue' and f['native_site']['scope'] == 'alloc']) == 1" \
    "res('netty-tcnative-ssl')['findings'][0]['native_site']['owners'] == $SSL['freed']" \
    "not any('full' in n for n in r['agent']['notes'])" \
    "bound('sites')['degraded'] == 0 and r['agent']['dropped'] == 0" \
    || fail "residue in the mid-run report"
head -3 "$WORK/mid.txt" | grep -q "VERDICT: " || fail "text report does not start with the verdict"
pass "residue: one 32-byte allocation in SSL.newSSL per freed engine; named as netty-tcnative #532"

# The same through the CLI: a fresh report from the running demo, and the
# staging gate fails on it (netty-tcnative #532).
"$NRAUDIT_BUILD/nraudit" dump "$SERVER" --format json --out "$WORK/cli.json" || fail "nraudit dump of the demo"
$CHECK "$WORK/cli.json" 'r["trigger"] == "command"' "$SSL['outstanding'] == $M" "$SSL['live'] == $M" \
    || fail "nraudit dump: counts"
set +e
"$NRAUDIT_BUILD/nraudit" check "$WORK/cli.json" >"$WORK/check.out" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat "$WORK/check.out"; fail "nraudit check on the demo exited $rc, not 1"; }
grep -q "netty-tcnative #532" "$WORK/check.out" || fail "nraudit check does not name #532"
pass "nraudit dump of the running demo: fresh report; nraudit check fails it (residue, #532)"

# Release the long-lived connections, stop the server: the exit report.
touch "$WORK/release-long"
wait "$LONG" || fail "long-lived client failed"
sleep 1
touch "$WORK/stop"
wait "$SERVER" || { tail "$WORK/server.out"; fail "server exit status"; }
grep -q '"trigger":"exit"' "$MID" || fail "no exit report"
$CHECK "$MID" \
    "$SSL['outstanding'] == 0" \
    "$SSL['allocated'] == $N + $M + 1" \
    "$SSL['freed'] == $SSL['allocated']" \
    "$SSL['freed_with_residue'] == $SSL['freed']" \
    "res('netty-tcnative-ssl')['residue']['bytes'] >= 32 * $SSL['freed']" \
    || fail "exit report"
pass "exit report: all $((N + M + 1)) engines freed, each left 32 bytes"
