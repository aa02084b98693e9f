#!/bin/sh
# Class-file rewriter corpus test.
#
# Rewrites every class of the Debian netty 4.1.48 jars (+ netty-tcnative) and
# every class of each JDK's runtime image outside java.* (java.* cannot be
# defined by a custom class loader), hooking every instance method the way
# the agent does (entry code in non-constructors, code before every `return`
# of every instance method, constructors included). Then, on JDK 17 and on
# Temurin 25, with -Xverify:all, it links every rewritten class in a
# child-first class loader (CorpusLoader: no static initializer runs) and
# runs the rewritten unit-test fixtures (FixtureCheck: hook counts, results).
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
JDK_MIN=15000        # of ~22000 (17) / ~24000 (25) non-java.* JDK classes
JDK_MAX_REFUSED=20   # jlink's SystemModules store into local 0: refused

t0=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/nraudit-corpus.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
failed=0
passed=0
step() { # name, command...: runs a step, counts it
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

set -- $JAVAS
jdk=$1
for j in $JAVAS; do
    if [ ! -x "$j/bin/java" ]; then
        echo "corpus: FAILED: no JDK at $j"
        failed=$((failed + 1))
    fi
done
[ -x "$jdk/bin/javac" ] || { echo "corpus: FAILED: no javac at $jdk"; exit 1; }

# Java helpers (class file 61 runs on 17 and 25) and the fixtures (52).
"$jdk/bin/javac" --release 17 -d "$work/helpers" "$SRC/tests/classfile-corpus/CorpusLoader.java" \
    "$SRC/tests/classfile-corpus/FixtureCheck.java" "$SRC/tests/classfile-corpus/nratest/CorpusHook.java"
"$jdk/bin/javac" --release 8 -g -d "$work/fx-in" "$SRC"/tests/unit/fixtures/Fx*.java
step "rewrite fixtures" "$driver" "$work/fx-in" "$work/fx-out" 0

# netty: unpack and rewrite once; its class files (version 50) load on both.
mkdir "$work/netty-in"
njars=0
for jar in /usr/share/java/netty-*-4.1.48.Final.jar /usr/share/java/netty-tcnative.jar; do
    [ -f "$jar" ] || continue
    if command -v unzip >/dev/null 2>&1; then # much faster than a JVM per jar
        unzip -qo "$jar" -d "$work/netty-in"
    else
        (cd "$work/netty-in" && "$jdk/bin/jar" xf "$jar")
    fi
    njars=$((njars + 1))
done
[ "$njars" -gt 20 ] || { echo "corpus: FAILED: netty jars missing (libnetty-java)"; exit 1; }
step "rewrite netty" "$driver" "$work/netty-in" "$work/netty-out" 0

for j in $JAVAS; do
    [ -x "$j/bin/java" ] || continue
    v=$("$j/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.version = //p')
    step "fixtures on $v" "$j/bin/java" -Xverify:all -cp "$work/helpers" FixtureCheck "$work/fx-out"

    rm -rf "$work/jdk-in" "$work/jdk-out"
    "$j/bin/jimage" extract --dir "$work/jdk-in" --include 'regex:/[^/]+/(?!java/).*\.class' \
        "$j/lib/modules"
    step "rewrite jdk $v" "$driver" "$work/jdk-in" "$work/jdk-out" "$JDK_MAX_REFUSED"
    rew=""
    orig=""
    for m in "$work"/jdk-in/*; do
        orig="$orig:$m"
        rew="$rew:$work/jdk-out/$(basename "$m")"
    done
    step "link on $v" "$j/bin/java" -Xverify:all -cp "$work/helpers" CorpusLoader \
        "netty=$NETTY_MIN=$work/netty-out=$work/netty-in" \
        "jdk-$v=$JDK_MIN=$rew=$orig"
    rm -rf "$work/jdk-in" "$work/jdk-out"
done

echo "classfile corpus: $passed passed, $failed failed ($(($(date +%s) - t0)) s)"
[ "$failed" -eq 0 ]
