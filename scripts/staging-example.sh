#!/bin/sh
# A staging audit, end to end, on the demo service: start it under the agent,
# put load on it, take two reports with `nraudit dump`, show what grew with
# `nraudit diff`, and gate with `nraudit check` (exit status of this script:
# the gate's, so 1 while Debian's tcnative 2.0.28 leaks — netty-tcnative #532).
set -eu
cd "$(dirname "$0")/.."
sh scripts/build.sh
OUT=${OUT:-$PWD/staging-out}
rm -rf "$OUT"; mkdir -p "$OUT"
JT=build/java-test
CP=$(cat "$JT/classpath.txt")
NRA=build/nraudit
load() {
    java -cp "$CP" -Djava.library.path="$JT/native" nraudit.demo.MqttLoadClient --certs "$JT/certs" \
        --port-file "$OUT/port" --connections "$1" --concurrency 8 >/dev/null
}

# 1. The flag: the service starts with the agent (reports also at exit).
java -agentpath:"$PWD/build/libnraudit.so=file=$OUT/exit-%p,format=json" \
    -Djava.library.path="$JT/native" -cp "$CP" nraudit.demo.MqttTlsServer --certs "$JT/certs" \
    --port 0 --port-file "$OUT/port" --exit-after-file "$OUT/stop" >"$OUT/server.log" 2>&1 &
PID=$!
trap 'touch "$OUT/stop"; wait $PID 2>/dev/null || true' EXIT
until grep -q READY "$OUT/server.log" 2>/dev/null; do sleep 0.2; done

# 2. A load, a first report; more load, a second report.
load 200
$NRA dump "$PID" --format json --out "$OUT/after-200.json"
load 400
$NRA dump "$PID" --format json --out "$OUT/after-600.json"

# 3. What grew between the two (pprof --base for native memory).
$NRA diff "$OUT/after-200.json" "$OUT/after-600.json" | tee "$OUT/diff.txt"

# 4. The gate a CI job runs: fails on leaks, prints the findings.
set +e
$NRA check "$OUT/after-600.json"
status=$?
exit $status
