#!/bin/sh
# Smoke test of the java-test programs themselves, without the agent:
# the MQTT/TLS demo (server + load client), every Scenarios subcommand and
# every NativeOwnerMain mode, each run once with small counts.
#
# Usage: smoke.sh BUILD/java-test      ($JAVA selects the java binary; default: java)
# ctest runs it as java_test.smoke. Takes ~20 s on 2 cores.
set -u

jt=${1:?usage: smoke.sh BUILD/java-test}
java=${JAVA:-java}
cp=$(cat "$jt/classpath.txt") || exit 1
certs=$jt/certs
native=$jt/native
work=$(mktemp -d "${TMPDIR:-/tmp}/nraudit-jt-smoke.XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# JDK 17+ accepts --enable-native-access; it silences JDK 24+ warnings.
jopts="-Djava.library.path=$native -Dio.netty.leakDetection.level=disabled"
if "$java" --enable-native-access=ALL-UNNAMED -version >/dev/null 2>&1; then
    jopts="--enable-native-access=ALL-UNNAMED $jopts"
fi

run() { # name expected-line-regex timeout-seconds class args...
    name=$1 expect=$2 limit=$3
    shift 3
    # shellcheck disable=SC2086
    timeout "$limit" "$java" $jopts -cp "$cp" "$@" >"$work/$name.out" 2>"$work/$name.err"
    rc=$?
    if [ $rc -ne 0 ]; then
        fail "$name: exit status $rc"
        tail -5 "$work/$name.err" >&2
    elif ! grep -qx "$expect" "$work/$name.out"; then
        fail "$name: no line '$expect'"
        cat "$work/$name.out" >&2
    else
        echo "ok   $name: $(head -1 "$work/$name.out")"
    fi
}

# --- demo: server + client ----------------------------------------------------
# shellcheck disable=SC2086
"$java" $jopts -cp "$cp" nraudit.demo.MqttTlsServer --certs "$certs" --port 0 \
    --port-file "$work/port" --exit-after-file "$work/stop" --max-seconds 120 \
    >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
i=0
while [ ! -s "$work/port" ] && [ $i -lt 200 ]; do
    sleep 0.1
    i=$((i + 1))
done
if [ ! -s "$work/port" ]; then
    fail "server: no port file"
    cat "$work/server.err" >&2
else
    run client "DONE short=200 long=5 failed=0 .*" 120 nraudit.demo.MqttLoadClient \
        --certs "$certs" --port-file "$work/port" --connections 200 --concurrency 8 --long-lived 5
fi
touch "$work/stop"
if wait "$server_pid"; then
    grep -q '^READY port=' "$work/server.out" || fail "server: no READY line"
    stopped=$(grep '^STOPPED' "$work/server.out") || fail "server: no STOPPED line"
    echo "ok   server: $stopped"
else
    fail "server: exit status $?"
fi
server_pid=

# --- scenarios --------------------------------------------------------------------
for s in "churn 500" "handshakes 50" "hold 50" "retain-twice 50" "drop-refcnt 50" \
         "block-finalizer 50" "fail-construct 50" "jdk-provider 10"; do
    # shellcheck disable=SC2086
    set -- $s
    run "scenario-$1" SCENARIO-DONE 60 nraudit.demo.Scenarios "$1" "$2" --certs "$certs"
done
run scenario-wait SCENARIO-DONE 60 nraudit.demo.Scenarios churn 10 --certs "$certs" \
    --wait-file "$work/port" --pid-file "$work/scenario.pid"
[ -s "$work/scenario.pid" ] || fail "scenario: no pid file"

# --- the JNI test library ---------------------------------------------------------
for m in CLEAN LEAK_IN_FREE LEAK_IN_USE; do
    run "native-$m" NATIVE-DONE 60 nraudit.test.NativeOwnerMain "$m" 200 32 --uses 2
done
run native-hold NATIVE-DONE 60 nraudit.test.NativeOwnerMain CLEAN 20 8 --hold
run native-drop NATIVE-DONE 60 nraudit.test.NativeOwnerMain CLEAN 20 8 --drop

if [ $failures -ne 0 ]; then
    echo "java-test smoke: $failures failure(s)" >&2
    exit 1
fi
echo "java-test smoke: all passed"
