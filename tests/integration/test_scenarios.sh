# Owner objects (real Debian netty/tcnative): each scenario's engines end in
# exactly the class the contract names, on JDK 17 and Temurin 25, plus
# Temurin 25 with --finalization=disabled.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

K=${SCENARIO_K:-100}
SSL='c("netty-tcnative-ssl")'
NO_LEAK_CLASS='not [f for f in res("netty-tcnative-ssl")["findings"] if f["kind"] != "residue"]'
# netty's start-up probe (OpenSsl.<clinit>) makes one engine-less SSL and
# frees it: with tcnative 2.0.28 it leaves its 32 bytes like every other.
PROBE="$SSL['allocated'] == $K + 1"

run_all() {
    j="$1"; tag="$2"
    scenario "$j" "$tag hold" "$WORK/$tag-hold" hold "$K"
    $CHECK "$WORK/$tag-hold.json" "$PROBE" "$SSL['live'] == $K" "$SSL['outstanding'] == $K" "$NO_LEAK_CLASS" \
        "r['agent']['reachability']['done']" || fail "$tag: hold"
    pass "$tag: engines held in a static list: live == $K, no leak class"

    scenario "$j" "$tag retain-twice" "$WORK/$tag-retain" retain-twice "$K"
    $CHECK "$WORK/$tag-retain.json" "$PROBE" "$SSL['finalized_not_freed'] == $K" "$SSL['live'] == 0" \
        "[f['kind'] for f in res('netty-tcnative-ssl')['findings']].count('finalized_not_freed') == 1" \
        || fail "$tag: retain-twice"
    pass "$tag: engines retained twice, dropped: finalized_not_freed == $K"

    scenario "$j" "$tag block-finalizer" "$WORK/$tag-block" block-finalizer "$K"
    $CHECK "$WORK/$tag-block.json" "$PROBE" "$SSL['pending_finalization'] == $K" \
        "'FinalizerBlocker.finalize' in r['finalizer']['diagnosis']" \
        "any('FinalizerBlocker.finalize' in f for f in r['finalizer']['thread_stack'])" \
        || fail "$tag: block-finalizer"
    pass "$tag: Finalizer blocked: pending_finalization == $K, blocking frame named"

    scenario "$j" "$tag zombies" "$WORK/$tag-zombies" zombies "$K"
    $CHECK "$WORK/$tag-zombies.json" "$SSL['zombies'] == $K" "$SSL['outstanding'] == 0" \
        "$SSL['freed'] == $K + 1" || fail "$tag: zombies"
    pass "$tag: released engines behind a busy Finalizer: zombies == $K"

    scenario "$j" "$tag drop-refcnt" "$WORK/$tag-drop" drop-refcnt "$K"
    $CHECK "$WORK/$tag-drop.json" "$PROBE" "$SSL['collected_not_freed'] == $K" "$SSL['live'] == 0" \
        || fail "$tag: drop-refcnt"
    pass "$tag: OPENSSL_REFCNT engines dropped unreleased: collected_not_freed == $K"

    scenario "$j" "$tag fail-construct" "$WORK/$tag-fail" fail-construct "$K"
    $CHECK "$WORK/$tag-fail.json" "$PROBE" "$SSL['freed'] == $K + 1" "$SSL['outstanding'] == 0" \
        "$NO_LEAK_CLASS" || fail "$tag: fail-construct"
    pass "$tag: constructors failing after newSSL: all freed, no leak class"
}

run_all "$JAVA17" jdk17
if have_java25; then
    run_all "$JAVA25" jdk25
    # Finalization disabled: finalize() never runs; engines retained twice
    # and dropped are simply collected, never freed.
    scenario "$JAVA25" "jdk25 no-finalization" "$WORK/nofin" retain-twice "$K" --finalization=disabled
    $CHECK "$WORK/nofin.json" "r['finalizer']['enabled'] == False" "$SSL['finalized_not_freed'] == 0" \
        "$SSL['collected_not_freed'] == $K" || fail "jdk25 --finalization=disabled"
    pass "jdk25 --finalization=disabled: collected_not_freed == $K, finalizer reported disabled"
else
    echo "SKIP: Temurin 25 not installed at $JAVA25"
fi
