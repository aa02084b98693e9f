# netty extracts tcnative to a temp dir and deletes it after loading: the
# residue site must still name SSL.newSSL and say the library is deleted.
# 300 churned engines + netty's start-up probe: one native site, 301 owners.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

mkdir "$WORK/lib"
cp "$JT/native/libnetty_tcnative.so" "$WORK/lib/libnetty_tcnative.so"
"$JAVA17" "-agentpath:$AGENT=file=$WORK/r.json,format=json" -Djava.library.path="$WORK/lib" -cp "$(classpath)" \
    nraudit.demo.Scenarios churn 300 --certs "$JT/certs" --wait-file "$WORK/go" --pid-file "$WORK/pid" \
    >"$WORK/out" 2>&1 &
PIDS="$!"
wait_line "$WORK/out" SCENARIO-DONE 60
rm "$WORK/lib/libnetty_tcnative.so"
grep -q 'libnetty_tcnative.so (deleted)' "/proc/$(cat "$WORK/pid")/maps" || fail "library not mapped as deleted"
jcmd "$(cat "$WORK/pid")" JVMTI.data_dump >/dev/null || fail "jcmd failed"
wait_for "$WORK/r.json" 30
cp "$WORK/r.json" "$WORK/dump.json"
touch "$WORK/go"
wait || true
SITE='[s for s in nsites("netty-tcnative-ssl") if s["repeating"] and s["size_each"] == 32][0]'
$CHECK "$WORK/dump.json" \
    "$SITE['native_stack'][-1]['symbol'].startswith('io.netty.internal.tcnative.SSL.newSSL (native)')" \
    "$SITE['native_stack'][-1]['library'] == 'libnetty_tcnative.so (deleted)'" \
    "$SITE['allocations'] == 301" \
    "not any('JNI_On' in f['symbol'] for s in sites('netty-tcnative-ssl') for f in s['native_stack'])" \
    || fail "site in a deleted library"
pass "deleted library: residue site still names SSL.newSSL, library marked (deleted)"
