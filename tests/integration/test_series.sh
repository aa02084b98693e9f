# interval=SECONDS: one JSON line per tick in <file>.jsonl with per-rule
# counts, residue bytes, RSS, heap used and Finalizer queue; the file rotates
# at series_max_kb and says so.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

"$JAVA17" "-agentpath:$AGENT=file=$WORK/r.json,format=json,interval=1,series_max_kb=2" \
    -Djava.library.path="$JT/native" -cp "$(classpath)" nraudit.demo.Scenarios churn 2000 --certs "$JT/certs" \
    --wait-file "$WORK/never" --wait-timeout 6 >"$WORK/out" 2>&1 || true
grep -q SCENARIO-DONE "$WORK/out" || { cat "$WORK/out"; fail "scenario did not run"; }
[ -s "$WORK/r.jsonl" ] || fail "no time series file"
[ -s "$WORK/r.jsonl.1" ] || fail "the series did not rotate at 2 KiB"
cat "$WORK/r.jsonl.1" "$WORK/r.jsonl" >"$WORK/all.jsonl"
python3 - "$WORK/all.jsonl" "$WORK/r.jsonl" <<'PY' || fail "time series content"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
samples = [l for l in lines if "event" not in l]
assert all(l["schema"] == "nraudit/series-v1" for l in lines)
assert len(samples) >= 5, len(samples)
ts = [s["timestamp_ms"] for s in samples]
assert ts == sorted(ts), "timestamps not increasing"
for s in samples:
    assert s["rss_bytes"] > 0 and s["heap_used_bytes"] > 0 and s["finalizer_queue"] >= 0
    ssl = s["rules"]["netty-tcnative-ssl"]
    assert ssl["allocated"] == ssl["freed"] + ssl["outstanding"]
last = samples[-1]["rules"]["netty-tcnative-ssl"]
assert last["allocated"] == 2001, last
assert last["residue_bytes"] >= 32 * 2001, last
first_line = json.loads(open(sys.argv[2]).readline())
assert first_line.get("event") == "rotated" and first_line["limit_kb"] == 2, first_line
print("ok: %d samples, rotated, last residue %d bytes" % (len(samples), last["residue_bytes"]))
PY
pass "time series: one line per second, bounded by rotation"
