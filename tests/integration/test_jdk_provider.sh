# SslProvider.JDK under the agent: tcnative is never loaded, so no natives
# are wrapped, no library is hooked, no record, no finding — and the report
# says that nothing was audited instead of passing: `nraudit check` exits 3
# (inconclusive) unless --allow-unaudited.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

"$JAVA17" "-agentpath:$AGENT=file=$WORK/jdk,format=text+json+html" -Djava.library.path="$JT/native" \
    -cp "$(classpath)" nraudit.demo.Scenarios jdk-provider 50 --certs "$JT/certs" >"$WORK/jdk.out" 2>&1 \
    || { tail -20 "$WORK/jdk.out"; fail "jdk-provider run"; }
$CHECK "$WORK/jdk.json" 'c("netty-tcnative-ssl")["allocated"] == 0' 'c("netty-tcnative-ctx")["allocated"] == 0' \
    'all(x["findings"] == [] for x in r["resources"])' 'r["agent"]["hooked_libraries"] == []' \
    'r["agent"]["stats"]["attributed_allocations"] == 0' \
    'r["agent"]["audited"] == False' 'all(x["audited"] == False for x in r["resources"])' \
    '"SSL.newSSL" in res("netty-tcnative-ssl")["unaudited_reason"]' \
    'r["agent"]["verdict"].startswith("nothing audited")' || fail "JDK provider"
head -1 "$WORK/jdk.txt" >/dev/null
grep -q '^VERDICT: nothing audited' "$WORK/jdk.txt" || { head -5 "$WORK/jdk.txt"; fail "text verdict"; }
grep -q 'not audited: no native of rule netty-tcnative-ssl was bound' "$WORK/jdk.txt" || fail "text: rule not audited"
grep -q 'VERDICT: nothing audited' "$WORK/jdk.html" || fail "HTML verdict"
set +e
"$NRAUDIT_BUILD/nraudit" check "$WORK/jdk.json" >"$WORK/check.out" 2>&1; rc=$?
"$NRAUDIT_BUILD/nraudit" check --allow-unaudited "$WORK/jdk.json" >"$WORK/check-allow.out" 2>&1; rc_allow=$?
set -e
[ "$rc" -eq 3 ] || { cat "$WORK/check.out"; fail "nraudit check exited $rc, not 3 (inconclusive)"; }
grep -q '^INCONCLUSIVE: nothing audited' "$WORK/check.out" || { cat "$WORK/check.out"; fail "check: no INCONCLUSIVE line"; }
[ "$rc_allow" -eq 0 ] || { cat "$WORK/check-allow.out"; fail "check --allow-unaudited exited $rc_allow"; }
pass "JDK provider: nothing hooked or recorded; text, HTML and JSON say nothing was audited; check exits 3"
