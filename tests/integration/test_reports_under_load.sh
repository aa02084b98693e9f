# Reports under load: threads churn engines the two ways a correct service
# frees them (OPENSSL_REFCNT released; OPENSSL dropped for finalize() to
# free) while data dumps are taken. Every report satisfies the contract's
# invariants, freed_with_residue <= freed, no handle is called finalized or
# collected without a free, and the walk's time and pause are in the JSON.
# Then the 8-thread shape: no unknown free, no reused handle, and the
# Finalizer frees exactly the engines that were dropped.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

SSL='c("netty-tcnative-ssl")'
NO_FALSE_LEAK="not any(f['kind'] in ('finalized_not_freed', 'collected_not_freed') for f in res('netty-tcnative-ssl')['findings'])"

storm() {   # storm JAVA TAG THREADS SECONDS REPORTS
    j="$1"; tag="$2"; threads="$3"; secs="$4"; want="$5"
    base="$WORK/$tag"
    mkdir -p "$base"
    "$j" "-agentpath:$AGENT=file=$base/r-%p,format=json" -Djava.library.path="$JT/native" \
        -cp "$(classpath)" nraudit.demo.Scenarios storm 100000000 --threads "$threads" --seconds "$secs" \
        --certs "$JT/certs" --pid-file "$base/pid" >"$base/out" 2>&1 &
    jpid=$!
    PIDS="$PIDS $jpid"
    wait_for "$base/pid" 30
    wait_line "$base/out" STORM-RUNNING 60
    sleep 1
    n=0
    while [ "$n" -lt "$want" ] && kill -0 "$jpid" 2>/dev/null && ! grep -q SCENARIO-DONE "$base/out"; do
        rm -f "$base/r-$jpid.json"
        timeout 30 jcmd "$jpid" JVMTI.data_dump >/dev/null 2>&1 || break
        [ -s "$base/r-$jpid.json" ] || break
        n=$((n + 1))
        cp "$base/r-$jpid.json" "$base/mid-$n.json"
    done
    wait "$jpid" || { tail -20 "$base/out"; fail "$tag: storm exited non-zero"; }
    grep -q SCENARIO-DONE "$base/out" || fail "$tag: storm did not finish"
    [ "$n" -ge "$want" ] || fail "$tag: only $n reports taken during the storm (want $want)"
    for f in "$base"/mid-*.json; do
        $CHECK "$f" "r['trigger'] == 'datadump'" \
            "$SSL['freed_with_residue'] <= $SSL['freed']" \
            "$NO_FALSE_LEAK" \
            "$SSL['finalized_not_freed'] == 0 and $SSL['collected_not_freed'] == 0" \
            "r['agent']['reachability']['done']" \
            "r['agent']['reachability']['walk_ms'] > 0 and 'pause_ms' in r['agent']['reachability']" \
            "$SSL['allocated'] > 1000" \
            >"$f.check" 2>&1 || { cat "$f.check"; fail "$tag: a report taken during the storm ($f)"; }
    done
    # Exit: everything freed; what finalize() freed is what was dropped.
    dropped=$(sed -n 's/.* dropped=\([0-9]*\).*/\1/p' "$base/out" | head -1)
    released=$(sed -n 's/.* released=\([0-9]*\).*/\1/p' "$base/out" | head -1)
    $CHECK "$base/r-$jpid.json" "r['trigger'] == 'exit'" \
        "$SSL['freed'] == $SSL['allocated']" \
        "$SSL['allocated'] == $dropped + $released + 1" \
        "$SSL['freed_by_finalizer'] == $dropped" \
        "$SSL['unknown_frees'] == 0" "$SSL['reused_unfreed'] == 0" "$NO_FALSE_LEAK" \
        || fail "$tag: exit report"
    pass "$tag: $threads threads, $n reports mid-storm all consistent; exit: $dropped freed by finalize(), no unknown or reused frees"
}

storm "$JAVA17" "jdk17-2threads" 2 10 5
storm "$JAVA17" "jdk17-8threads" 8 6 2
if have_java25; then
    storm "$JAVA25" "jdk25-2threads" 2 6 3
fi
