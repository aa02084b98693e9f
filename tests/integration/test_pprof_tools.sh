# pprof output read by the tools (real Debian netty/tcnative 2.0.28, whose
# newSSL leaves 32 bytes per engine): two runs of K1 and K2 engines built
# and freed, each writing format=json+pprof at exit; then
#  - google-pprof --text on one .heap names the residue after the bound
#    native (our symbol section), not after the stripped library's nearest
#    export (..._JNI_OnUnLoad);
#  - google-pprof --text --base=<older> <newer> shows (K2-K1) x 32 bytes;
#  - google-pprof --svg renders (when graphviz's dot is installed);
#  - the .pb.gz is a gzip'd profile.proto whose string table holds our
#    names (decoded here), and `go tool pprof -top` reads it when Go is there.
# A symbolized profile takes no binary argument: google-pprof refuses one.
. "$NRAUDIT_SOURCE/tests/integration/lib.sh"

K1=${PPROF_K1:-100}
K2=${PPROF_K2:-300}
command -v google-pprof >/dev/null || fail "google-pprof not installed (package google-perftools)"

run() {
    n="$1"; base="$WORK/k$n"
    java "-agentpath:$AGENT=file=$base.json,format=json+pprof" -Djava.library.path="$JT/native" \
        -cp "$(classpath)" nraudit.demo.Scenarios fail-construct "$n" --certs "$JT/certs" >"$base.out" 2>&1 \
        || { tail -20 "$base.out"; fail "scenario fail-construct $n exited non-zero"; }
    [ -s "$base.json" ] || fail "k$n: no JSON report"
    [ -s "$base.heap" ] || fail "k$n: no $base.heap (format=pprof not written)"
    [ -s "$base.pb.gz" ] || fail "k$n: no $base.pb.gz (format=pprof not written)"
}
run "$K1"
run "$K2"
OLD="$WORK/k$K1.heap"
NEW="$WORK/k$K2.heap"
NEWSSL='io.netty.internal.tcnative.SSL.newSSL \[native\]'
SSL_ROOT='nraudit residue: netty-tcnative-ssl'

# google-pprof --text: flat bytes of a name (first column), 0 when absent
flat() { awk -v re="$2" '$0 ~ re { print $1; found = 1; exit } END { if (!found) print 0 }' "$1"; }

# One dump: newSSL holds (K+1) x 32 bytes (netty's start-up probe makes one
# engine more) and is the top residue entry of the tcnative-ssl rule.
google-pprof --text --show_bytes "$NEW" >"$WORK/new.txt" 2>"$WORK/new.err" \
    || { cat "$WORK/new.err"; fail "google-pprof --text $NEW"; }
grep -q "^Total: " "$WORK/new.txt" || { cat "$WORK/new.txt" "$WORK/new.err"; fail "google-pprof printed no total"; }
[ "$(flat "$WORK/new.txt" "$NEWSSL")" = $((32 * (K2 + 1))) ] \
    || { cat "$WORK/new.txt"; fail "newSSL is not $((32 * (K2 + 1))) bytes"; }
if grep -q "JNI_OnUnLoad" "$WORK/new.txt"; then cat "$WORK/new.txt"; fail "a frame is named after JNI_OnUnLoad"; fi
google-pprof --text --show_bytes --focus="$SSL_ROOT" "$NEW" >"$WORK/focus.txt" 2>/dev/null
top=$(grep -v "^Total:" "$WORK/focus.txt" | head -1)
echo "$top" | grep -q "$NEWSSL" || { cat "$WORK/focus.txt"; fail "newSSL is not the top tcnative-ssl residue entry"; }
grep -q "java: io.netty.handler.ssl.ReferenceCountedOpenSslEngine.{init}" "$WORK/focus.txt" \
    || { cat "$WORK/focus.txt"; fail "the Java frames are not named"; }
pass "google-pprof --text: $top"

# Growth between the dumps: (K2-K1) x 32 bytes at newSSL.
google-pprof --text --show_bytes --base="$OLD" "$NEW" >"$WORK/diff.txt" 2>/dev/null \
    || fail "google-pprof --base"
want=$((32 * (K2 - K1)))
[ "$(flat "$WORK/diff.txt" "$NEWSSL")" = "$want" ] || { cat "$WORK/diff.txt"; fail "--base: newSSL not +$want bytes"; }
grep -v "^Total:" "$WORK/diff.txt" | head -1 | grep -q "$NEWSSL" \
    || { cat "$WORK/diff.txt"; fail "--base: newSSL not the top entry"; }
pass "google-pprof --base: +$want bytes at newSSL ($((K2 - K1)) engines x 32)"

# A binary argument is refused for a symbolized profile (documented usage).
if google-pprof --text /bin/true "$NEW" >/dev/null 2>&1; then
    fail "google-pprof accepted a binary argument with a symbolized profile"
fi

if command -v dot >/dev/null; then
    google-pprof --svg "$NEW" >"$WORK/new.svg" 2>/dev/null || fail "google-pprof --svg"
    grep -q "<svg" "$WORK/new.svg" && grep -q "io.netty.internal.tcnative.SSL.newSSL" "$WORK/new.svg" \
        || fail "--svg output lacks the newSSL node"
    pass "google-pprof --svg renders the newSSL node"
else
    echo "SKIP: google-pprof --svg needs graphviz's dot"
fi

# The proto: gzip, profile.proto fields, our names in the string table.
python3 - "$WORK/k$K2.pb.gz" "$K2" <<'EOF' || fail "the .pb.gz does not decode as expected"
import gzip, sys

data = gzip.open(sys.argv[1]).read()
k = int(sys.argv[2])

def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7f) << s; s += 7
        if not c & 0x80:
            return v, i

def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(b, i)
        elif wire == 2:
            n, i = varint(b, i)
            v = b[i:i + n]; i += n
        else:
            raise SystemExit("wire type %d" % wire)
        yield num, v

def packed(v):
    if isinstance(v, int):
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        out.append(x)
    return out

strings, samples, locs, funcs = [], [], {}, {}
for num, v in fields(data):
    if num == 6:
        strings.append(v.decode())
    elif num == 2:
        s = {"loc": [], "val": []}
        for n, w in fields(v):
            if n == 1: s["loc"] += packed(w)
            if n == 2: s["val"] += packed(w)
        samples.append(s)
    elif num == 4:
        d = dict((n, w) for n, w in fields(v) if n != 4)
        lines = [dict(fields(w)) for n, w in fields(v) if n == 4]
        locs[d[1]] = lines[0][1]
    elif num == 5:
        d = dict(fields(v))
        funcs[d[1]] = d[2]
assert strings[0] == "", "string_table[0] not empty"
name = "io.netty.internal.tcnative.SSL.newSSL (native)"
assert name in strings, "no %r in the string table" % name
got = sum(s["val"][1] for s in samples if strings[funcs[locs[s["loc"][0]]]] == name)
assert got == 32 * (k + 1), "newSSL residue_space %d, want %d" % (got, 32 * (k + 1))
print("proto: %d samples, %d locations, newSSL %d bytes" % (len(samples), len(locs), got))
EOF
pass "the .pb.gz decodes: profile.proto with our names"

if command -v go >/dev/null; then
    go tool pprof -top "$WORK/k$K2.pb.gz" >"$WORK/go.txt" 2>&1 || { cat "$WORK/go.txt"; fail "go tool pprof -top"; }
    grep -q "io.netty.internal.tcnative.SSL.newSSL (native)" "$WORK/go.txt" || { cat "$WORK/go.txt"; fail "go pprof: no newSSL"; }
    go tool pprof -top -base="$WORK/k$K1.pb.gz" "$WORK/k$K2.pb.gz" >"$WORK/go-diff.txt" 2>&1 \
        || { cat "$WORK/go-diff.txt"; fail "go tool pprof -base"; }
    pass "go tool pprof reads the .pb.gz"
else
    echo "SKIP: go tool pprof (no Go installed)"
fi
