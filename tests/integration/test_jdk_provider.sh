# SslProvider.JDK under the agent: tcnative is never loaded, so no natives
# are wrapped, no library is hooked, no record, no finding.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

scenario "$JAVA17" jdk-provider "$WORK/jdk" jdk-provider 50
$CHECK "$WORK/jdk.json" 'c("netty-tcnative-ssl")["allocated"] == 0' 'c("netty-tcnative-ctx")["allocated"] == 0' \
    'all(x["findings"] == [] for x in r["resources"])' 'r["agent"]["hooked_libraries"] == []' \
    'r["agent"]["stats"]["attributed_allocations"] == 0' || fail "JDK provider"
pass "JDK provider: no records, no findings, nothing hooked"
