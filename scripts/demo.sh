#!/bin/sh
# The demo: an MQTT-over-TLS access server (netty 4.1.48, SslProvider.OPENSSL,
# client auth, Debian's netty-tcnative 2.0.28) runs under nraudit; a load
# generator churns short connections while a few stay open; halfway we ask
# for a report with `jcmd <pid> JVMTI.data_dump` and print it; then the
# server stops and writes its exit report.
set -eu
cd "$(dirname "$0")/.."
sh scripts/build.sh
SHORT=${SHORT:-500}
LONG=${LONG:-5}
OUT=${OUT:-$PWD/demo-out}
rm -rf "$OUT"
mkdir -p "$OUT"
JT=build/java-test
CP=$(cat "$JT/classpath.txt")
echo "== starting the MQTT TLS server under nraudit (reports: $OUT/report-<pid>.txt/.json)"
java -agentpath:"$PWD/build/libnraudit.so=file=$OUT/report-%p,format=text+json" \
    -Djava.library.path="$JT/native" -cp "$CP" nraudit.demo.MqttTlsServer --certs "$JT/certs" \
    --port 0 --port-file "$OUT/port" --exit-after-file "$OUT/stop" >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
i=0
until grep -q "READY" "$OUT/server.log" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 600 ] || { cat "$OUT/server.log"; exit 1; }; sleep 0.1
done
echo "== $LONG long-lived connections, then $SHORT short ones (connect, ping, disconnect)"
java -cp "$CP" -Djava.library.path="$JT/native" nraudit.demo.MqttLoadClient --certs "$JT/certs" \
    --port-file "$OUT/port" --connections 0 --long-lived "$LONG" --hold-file "$OUT/release" \
    >"$OUT/long.log" 2>&1 &
LONGPID=$!
java -cp "$CP" -Djava.library.path="$JT/native" nraudit.demo.MqttLoadClient --certs "$JT/certs" \
    --port-file "$OUT/port" --connections "$SHORT" --concurrency 8 | tee "$OUT/short.log"
echo "== mid-run: jcmd $SERVER JVMTI.data_dump"
jcmd "$SERVER" JVMTI.data_dump >/dev/null
i=0
until [ -s "$OUT/report-$SERVER.txt" ]; do i=$((i + 1)); [ $i -lt 300 ] || exit 1; sleep 0.1; done
cp "$OUT/report-$SERVER.txt" "$OUT/mid-run.txt"
cp "$OUT/report-$SERVER.json" "$OUT/mid-run.json"
sed -n '1,40p' "$OUT/mid-run.txt"
echo "   (full mid-run report: $OUT/mid-run.txt and .json)"
echo "== closing the long-lived connections and stopping the server"
touch "$OUT/release"
wait "$LONGPID" || true
touch "$OUT/stop"
wait "$SERVER" || true
trap - EXIT
echo "== exit report ($OUT/report-$SERVER.txt):"
sed -n '1,8p' "$OUT/report-$SERVER.txt"
