# The HTML report in a real browser (headless Chromium): it renders without a
# console error or a blocked load, its DOM holds the verdict and charts with
# one point per sample, and its screenshot is not blank (colored chart lines).
#
# Two pages: one written by a small driver (tests/html/render_sample.c,
# compiled here against libnraudit_core.a: 20 samples, deterministic), and
# one written by the agent itself with format=html,interval=1 around a JVM
# scenario — skipped with a NOTE while the agent refuses or does not write
# format=html (the driver page is then the only one).
#
# Needs the Debian package chromium; skips (exit 0) without it.
# KEEP_WORK=1 keeps the pages, DOM dumps and screenshots.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

CHROMIUM="${CHROMIUM:-}"
if [ -z "$CHROMIUM" ]; then
    for c in chromium chromium-browser; do
        if command -v "$c" >/dev/null 2>&1; then CHROMIUM=$(command -v "$c"); break; fi
    done
fi
if [ -z "$CHROMIUM" ]; then
    echo "SKIP: chromium not installed"
    exit 0
fi
HTML="$NRAUDIT_SOURCE/tests/html"
PY=python3
PNG_COLOR2="#e15759:0"   # second rule's line colour: required on the driver page only

# chrome LOG ARGS...: one headless run, no network, a fresh profile, the
# browser's log (with the page's console messages) in LOG.
chrome() {
    log="$1"; shift
    profile=$(mktemp -d "$WORK/profile.XXXXXX")
    timeout 40 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync --disable-extensions \
        --disable-default-apps --mute-audio --hide-scrollbars --user-data-dir="$profile" \
        --enable-logging=stderr --v=0 "$@" 2>"$log"
}

# console_errors LOG: the page's console messages (Chromium logs each as
# "INFO:CONSOLE(line)" or "...:CONSOLE:line]"); the reports have no script,
# so any message is an error: a CSP violation, a blocked load.
console_errors() { grep -E 'CONSOLE[(:]' "$1" || true; }

# check_page NAME FILE DOM_CHECK_ARGS...: dump the DOM and take a screenshot
# of FILE, check both.
check_page() {
    name="$1"; file="$2"; shift 2
    chrome "$WORK/$name.dom.log" --dump-dom "file://$file" >"$WORK/$name.dom" \
        || { tail -20 "$WORK/$name.dom.log"; fail "$name: chromium --dump-dom failed"; }
    [ -s "$WORK/$name.dom" ] || fail "$name: empty DOM dump"
    errs=$(console_errors "$WORK/$name.dom.log")
    [ -z "$errs" ] || { echo "$errs"; fail "$name: console messages while rendering the report"; }
    $PY "$HTML/dom_check.py" "$WORK/$name.dom" "$@" || fail "$name: DOM check"
    pass "$name: rendered without console errors; DOM holds the verdict and the charts"

    rm -f "$WORK/$name.png"
    chrome "$WORK/$name.shot.log" --screenshot="$WORK/$name.png" --window-size=1280,2000 "file://$file" >/dev/null \
        || { tail -20 "$WORK/$name.shot.log"; fail "$name: chromium --screenshot failed"; }
    [ -s "$WORK/$name.png" ] || fail "$name: no screenshot"
    errs=$(console_errors "$WORK/$name.shot.log")
    [ -z "$errs" ] || { echo "$errs"; fail "$name: console messages while taking the screenshot"; }
    # #4e79a7: the first rule's lines and the RSS line (only charts use it).
    $PY "$HTML/png_check.py" "$WORK/$name.png" --min-bytes 20000 --min-nonwhite 0.03 \
        --color '#4e79a7:300' --color "$PNG_COLOR2" || fail "$name: screenshot check"
    pass "$name: screenshot $(wc -c <"$WORK/$name.png") bytes, not blank, chart lines drawn"
}

# 1. The detection works: a deliberately broken page must log console errors.
chrome "$WORK/broken.log" --dump-dom "file://$HTML/console_error.html" >"$WORK/broken.dom" \
    || { tail -20 "$WORK/broken.log"; fail "chromium did not start"; }
n=$(console_errors "$WORK/broken.log" | wc -l)
[ "$n" -ge 2 ] || { cat "$WORK/broken.log"; fail "broken page: expected 2 console errors in the log, got $n"; }
pass "broken page: $n console errors seen (blocked stylesheet, blocked script): detection works"

# 2. The driver's page: 20 samples, 2 rules, 4 charts, escaped Java frames.
CORE="$NRAUDIT_BUILD/libnraudit_core.a"
[ -f "$CORE" ] || fail "$CORE not built"
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$NRAUDIT_SOURCE/include" "$HTML/render_sample.c" "$CORE" \
    $(pkg-config --libs libunwind 2>/dev/null) -lpthread -ldl -o "$WORK/render_sample" 2>"$WORK/cc.log" \
    || { cat "$WORK/cc.log"; fail "cannot build the driver tests/html/render_sample.c"; }
"$WORK/render_sample" "$WORK/driver.html" 20 || fail "driver: writing the report failed"
PNG_COLOR2="#e15759:200"
check_page driver "$WORK/driver.html" --samples 20 --charts 4 \
    --expect-text "VERDICT: 2 native leak findings." \
    --expect-text "io.netty.handler.ssl.ReferenceCountedOpenSslEngine.<init>(ReferenceCountedOpenSslEngine.java:325)" \
    --expect-text "io.netty.internal.tcnative.SSL.newSSL (native)+0x46" \
    --expect-text "Flame graph of the repeating sites"
# The flame graph in the rendered DOM: an SVG whose rectangles carry named frames.
grep -q '<svg class="flame"' "$WORK/driver.dom" 2>/dev/null || \
    chrome "$WORK/flame.log" --dump-dom "file://$WORK/driver.html" >"$WORK/driver.dom"
python3 - "$WORK/driver.dom" <<'PY' || fail "driver: flame graph in the DOM"
import re, sys
dom = open(sys.argv[1]).read()
m = re.search(r'<svg class="flame".*?</svg>', dom, re.S)
assert m, "no flame graph"
titles = re.findall(r"<title>(.*?)</title>", m.group(0))
assert len(titles) >= 3, titles
assert any("SSL.newSSL" in t for t in titles), titles
assert any("ReferenceCountedOpenSslEngine" in t for t in titles), titles
assert len(re.findall(r"<rect ", m.group(0))) == len(titles)
PY
pass "driver: flame graph drawn, $(grep -o '<title>' "$WORK/driver.dom" | wc -l) named frames in the DOM"
PNG_COLOR2="#e15759:0"

# 3. The agent's own page, when it writes one: engines retained twice and
# dropped (finalized_not_freed), the JVM kept alive a few seconds after the
# scenario so that interval=1 takes several samples.
agent_wired() { nm "$AGENT" 2>/dev/null | grep -q 'nra_report_write_html'; }
: >"$WORK/agent.out"
"$JAVA17" "-agentpath:$AGENT=file=$WORK/agent.html,format=html,interval=1" -Djava.library.path="$JT/native" \
    -cp "$(classpath)" nraudit.demo.Scenarios retain-twice 100 --certs "$JT/certs" \
    --wait-file "$WORK/go" --wait-timeout 40 >"$WORK/agent.out" 2>&1 &
jvm=$!
PIDS="$PIDS $jvm"
i=0
while kill -0 "$jvm" 2>/dev/null && ! grep -q SCENARIO-DONE "$WORK/agent.out"; do
    i=$((i + 1))
    [ "$i" -gt 400 ] && { tail -20 "$WORK/agent.out"; fail "agent: scenario did not finish in 40 s"; }
    sleep 0.1
done
if grep -q SCENARIO-DONE "$WORK/agent.out"; then
    sleep 3
    touch "$WORK/go"
fi
set +e
wait "$jvm"
rc=$?
set -e
if [ "$rc" -ne 0 ] && grep -q '^nraudit: error: .*\(format\|unknown option\)' "$WORK/agent.out"; then
    echo "NOTE: the agent refuses format=html or interval: $(grep '^nraudit: error: ' "$WORK/agent.out" | head -1)"
    echo "NOTE: HTML checked from the driver only"
elif [ "$rc" -ne 0 ]; then
    tail -20 "$WORK/agent.out"
    fail "agent: the JVM exited with $rc"
elif [ ! -s "$WORK/agent.html" ]; then
    if agent_wired; then
        tail -20 "$WORK/agent.out"
        fail "agent: links nra_report_write_html but wrote no $WORK/agent.html"
    fi
    echo "NOTE: the agent accepts format=html but does not write it yet; HTML checked from the driver only"
else
    check_page agent "$WORK/agent.html" --min-samples 2 \
        --verdict-regex 'VERDICT: [1-9][0-9]* native leak findings?\.' --expect-text "netty-tcnative-ssl"
fi
