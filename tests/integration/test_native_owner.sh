# The project's own JNI library (rules file): residue counted exactly, in
# bytes and allocations, for a leak in the free native and in a use native;
# nothing for the clean variant; the float native is not wrapped.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

N=1000
K=40
U=3
RULES="$NRAUDIT_SOURCE/tests/integration/nratest.rules"
T='c("nratest")'
owner() {
    mode="$1"; base="$WORK/$mode"; shift
    "$JAVA17" "-agentpath:$AGENT=file=$base.json,format=json,rules=$RULES" -Djava.library.path="$JT/native" \
        -cp "$(classpath)" nraudit.test.NativeOwnerMain "$mode" "$N" "$K" --uses "$U" "$@" >"$base.out" 2>&1 \
        || { cat "$base.out"; fail "$mode: NativeOwnerMain failed"; }
    grep -q NATIVE-DONE "$base.out" || fail "$mode: did not finish"
}
REPEATING='[s for s in nsites("nratest") if s["repeating"]]'

owner CLEAN
$CHECK "$WORK/CLEAN.json" "$T['allocated'] == $N" "$T['freed'] == $N" "$T['outstanding'] == 0" \
    'res("nratest")["residue"]["bytes"] == 0' 'res("nratest")["findings"] == []' \
    "$T['freed_with_residue'] == 0" \
    'any(n.startswith("nraudit.test.NativeOwner.scale(JD)D") for n in res("nratest")["natives_skipped"])' \
    "r['agent']['stats']['owners_claimed'] == $N" || fail "CLEAN"
pass "clean variant: $N owners, zero residue, no findings; float native not wrapped"

owner LEAK_IN_FREE
$CHECK "$WORK/LEAK_IN_FREE.json" "$T['freed_with_residue'] == $N" \
    "len($REPEATING) == 1" \
    "$REPEATING[0]['allocations'] == $N" "$REPEATING[0]['bytes'] == $N * $K" \
    "$REPEATING[0]['size_each'] == $K" "$REPEATING[0]['owners'] == $N" "$REPEATING[0]['scope'] == 'free'" \
    "res('nratest')['residue']['bytes'] == $N * $K" \
    "res('nratest')['findings'][0]['kind'] == 'residue'" "res('nratest')['findings'][0]['bytes'] == $N * $K" \
    "any('NativeOwner.free (native)' in f['symbol'] for f in $REPEATING[0]['native_stack'])" \
    "any('libnratest.so' in f['library'] for f in $REPEATING[0]['native_stack'])" \
    || fail "LEAK_IN_FREE"
pass "leak in the free native: exactly $N x $K bytes, site names NativeOwner.free"

owner LEAK_IN_USE
$CHECK "$WORK/LEAK_IN_USE.json" "$T['freed_with_residue'] == $N" \
    "len($REPEATING) == 1" \
    "$REPEATING[0]['allocations'] == $N * $U" "$REPEATING[0]['bytes'] == $N * $U * $K" \
    "$REPEATING[0]['owners'] == $N" "$REPEATING[0]['scope'] == 'use'" \
    "res('nratest')['residue']['bytes'] == $N * $U * $K" \
    "any('NativeOwner.use (native)' in f['symbol'] for f in $REPEATING[0]['native_stack'])" \
    || fail "LEAK_IN_USE"
pass "leak in a use native: exactly $N x $U x $K bytes"

# Owners kept: live; dropped unreleased: collected, never freed (no finalizer).
owner CLEAN --hold
$CHECK "$WORK/CLEAN.json" "$T['live'] == $N" "$T['outstanding'] == $N" \
    "res('nratest')['held_allocations'] == 2 * $N" || fail "hold"
pass "held owners: live == $N, their memory reported as held, not residue"
