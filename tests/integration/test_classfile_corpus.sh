#!/bin/sh
# Class-file rewriter corpus test.
#
# Rewrites every class of the Debian netty 4.1.48 jars (+ netty-tcnative) and
# every class of each JDK's runtime image outside java.* (a custom class
# loader may not define java.*), hooking every instance method the way the
# agent does: entry code in non-constructors, code before every `return` of
# every instance method, constructors included. Then, on JDK 17 and on
# Temurin 25, with -Xverify:all, it links every rewritten class in a
# child-first class loader (CorpusLoader link: no static initializer runs)
# and runs the rewritten unit-test fixtures (FixtureCheck: hook counts and
# results).
#
# Fails on: any VerifyError/ClassFormatError caused by the rewrite, a
# malformed rewrite, more refusals (-ENOTSUP) than expected, fewer verified
# classes than the floors below, or a fixture check. Classes that cannot link
# for unrelated reasons (optional dependencies, access rules of the split
# loader) are counted and reported, not failures.
#
# Env: NRAUDIT_BUILD, NRAUDIT_SOURCE (set by ctest); NRAUDIT_CORPUS_JAVAS:
# the JDK homes to test (default: Debian's 17 and Temurin 25).
set -eu

SRC=${NRAUDIT_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${NRAUDIT_BUILD:-$SRC/build}
JAVAS=${NRAUDIT_CORPUS_JAVAS:-"/usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/temurin-25-jdk-amd64"}
NETTY_MIN=2500       # of 2639 netty classes; 4 need absent optional deps
JDK_MIN=15000        # of ~22400 (17) / ~22500 (25) non-java.* JDK classes
JDK_MAX_REFUSED=20   # -ENOTSUP is legitimate but rare: 0 seen on 17 and 25

t0=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/nraudit-corpus.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
failed=0
passed=0
step() { # name, command...: runs a step and counts it
    name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        echo "corpus: FAILED: $name"
        failed=$((failed + 1))
    fi
}

driver=$BUILD/tests/classfile-corpus/classfile_corpus_rewrite
if [ ! -x "$driver" ]; then
    echo "corpus: $driver is not built; compiling the driver with cc"
    cc -std=c11 -O2 -D_GNU_SOURCE -I"$SRC/include" "$SRC/tests/classfile-corpus/corpus_rewrite.c" \
        "$SRC/agent/classfile.c" -o "$work/rewrite"
    driver=$work/rewrite
fi

jdk=""
for j in $JAVAS; do
    if [ -x "$j/bin/java" ]; then
        [ -n "$jdk" ] || jdk=$j
    else
        echo "corpus: FAILED: no JDK at $j"
        failed=$((failed + 1))
    fi
done
[ -n "$jdk" ] && [ -x "$jdk/bin/javac" ] || { echo "corpus: FAILED: no javac"; exit 1; }
helpers="-cp $work/helpers CorpusLoader"

# Java helpers (class file 61 runs on 17 and 25) and the fixtures (52).
"$jdk/bin/javac" --release 17 -d "$work/helpers" "$SRC/tests/classfile-corpus/CorpusLoader.java" \
    "$SRC/tests/classfile-corpus/FixtureCheck.java" "$SRC/tests/classfile-corpus/nratest/CorpusHook.java"
"$jdk/bin/javac" --release 8 -g -d "$work/fx" "$SRC"/tests/unit/fixtures/Fx*.java
"$jdk/bin/java" $helpers pack "$work/fx.cla" "$work/fx"
step "rewrite fixtures" "$driver" "$work/fx.cla" "$work/fx-out.cla" 0

# netty: packed and rewritten once; its class files (version 50) load on both.
jars=""
for jar in /usr/share/java/netty-*-4.1.48.Final.jar /usr/share/java/netty-tcnative.jar; do
    [ -f "$jar" ] && jars="$jars $jar"
done
[ -n "$jars" ] || { echo "corpus: FAILED: netty jars missing (libnetty-java)"; exit 1; }
"$jdk/bin/java" $helpers pack "$work/netty.cla" $jars
step "rewrite netty" "$driver" "$work/netty.cla" "$work/netty-out.cla" 0

for j in $JAVAS; do
    [ -x "$j/bin/java" ] || continue
    v=$("$j/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.version = //p')
    step "fixtures on $v" "$j/bin/java" -Xverify:all -cp "$work/helpers" FixtureCheck \
        "$work/fx-out.cla"
    "$j/bin/java" $helpers pack "$work/jdk.cla" jrt
    step "rewrite jdk $v" "$driver" "$work/jdk.cla" "$work/jdk-out.cla" "$JDK_MAX_REFUSED"
    step "link on $v" "$j/bin/java" -Xverify:all $helpers link \
        "netty=$NETTY_MIN=$work/netty-out.cla=$work/netty.cla" \
        "jdk-$v=$JDK_MIN=$work/jdk-out.cla=$work/jdk.cla"
    rm -f "$work/jdk.cla" "$work/jdk-out.cla"
done

echo "classfile corpus: $passed passed, $failed failed ($(($(date +%s) - t0)) s)"
[ "$failed" -eq 0 ]
