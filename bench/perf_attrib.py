#!/usr/bin/env python3
"""Attributes the CPU samples of an EngineChurn run to the agent's parts.

Input (stdin): `perf script --no-inline` text of a `perf record --call-graph
dwarf -F F` run (--no-inline: with inline expansion perf names the return
address of a hook's call to the real malloc after the inlined code that
follows it, and it is slower by minutes). Every sample of a churning thread (comm churn-N) is classified by its
innermost frame in libnraudit.so:

  - no agent frame, or the agent frame only forwards to the application
    (a malloc hook calling the real allocator, a native wrapper calling the
    original native)                                  -> application
  - otherwise the agent's own work (its code, or the JVMTI/JNI/libc/libunwind
    calls it makes), by the agent function that runs:
      Java stack capture  java_stacks.c capture / nra_java_site_for_record
      owner hooks         instrument.c constructed* / finalizing / handle_field
      malloc hooks        hook_*, attribute, table_*, signature, capture_site ...
      wrappers+registry   dispatch, call_*, wrap_*, nra_reg_*, clock, tid ...

Samples of other threads (not the main thread, which starts up and warms up)
are reported as agent work when an agent frame or the JVMTI tag map (cleaning
of dead tags, ObjectFree posting) is on their stack, per engine of the whole
JVM (--all-engines). µs per engine = samples x (1e6 / F) / engines.

Usage: perf script --no-inline -i DATA | python3 perf_attrib.py --freq F --engines N [--all-engines M] [--title T]
"""
import argparse
import collections
import re
import sys

AGENT_DSO = "libnraudit.so"
JAVA_STACKS = {"capture", "nra_java_site_for_record"}
OWNER = {"constructed", "finalizing", "handle_field", "nra_instrument_on_object_free"}
MALLOC = {"hook_malloc", "hook_calloc", "hook_realloc", "hook_free", "hook_posix_memalign",
          "hook_aligned_alloc", "hook_memalign", "hook_reallocarray", "attribute", "after_alloc",
          "before_free", "table_insert", "table_remove", "table_maybe_has", "take_entry", "stripe_lock",
          "stripe_unlock", "signature", "sig_lookup", "sig_insert", "site_note_owner", "capture_site",
          "in_some_object", "in_self", "resize"}
FORWARDERS = {"dispatch", "call_alloc", "call_free", "call_use"}
APP_DSOS = ("libnetty_tcnative", "libssl", "libcrypto", "perf-", "[unknown]")

FRAME_RE = re.compile(r"^\s+([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")


def base_sym(s):
    s = re.sub(r"\+0x[0-9a-f]+$", "", s)
    s = re.sub(r"\.(constprop|isra|part|cold)\.\d+$", "", s)
    s = re.sub(r"\.(constprop|isra|part|cold)\.\d+", "", s)
    return s


def category(names):
    """names: the agent frames' functions from the innermost outward (the
    whole run of agent frames: a shared helper such as nra_stack_intern
    counts for whoever called it)."""
    if any(n in JAVA_STACKS for n in names):
        return "Java stack capture (GetStackTrace)"
    if any(n in OWNER or n.startswith("constructed_") for n in names):
        return "owner hooks (constructed/finalizing: JNI, SetTag/GetTag)"
    if any(n in MALLOC for n in names):
        return "malloc/free hooks (signature, attribution table)"
    return "native wrappers + registry"


def resolve_inlined(frames):
    """perf names an inlined function's dso "inlined": it is the dso of the
    next real frame outward (the function it was inlined into)."""
    out = list(frames)
    real = None
    for i in range(len(out) - 1, -1, -1):
        if out[i][1] == "inlined":
            out[i] = (out[i][0], real or "inlined")
        else:
            real = out[i][1]
    return out


def leaf_name(frames):
    sym, dso = frames[0] if frames else ("?", "?")
    if sym == "[unknown]":
        return dso
    return "%s (%s)" % (base_sym(sym), dso.replace(".so", "").split(".")[0])


def classify(frames):
    """frames: [(sym, dso)] leaf first. Returns a category or None (application)."""
    frames = resolve_inlined(frames)
    idx = None
    for i, (sym, dso) in enumerate(frames):
        if dso.endswith(AGENT_DSO):
            idx = i
            break
    if idx is None:
        return None
    block = []
    for sym, dso in frames[idx:]:
        if not dso.endswith(AGENT_DSO):
            break
        block.append(base_sym(sym))
    inner = block[0]
    if idx > 0:
        callee_dso = frames[idx - 1][1]
        if inner.startswith("hook_") and "libc.so" in callee_dso:
            return None   # the real allocator: the application's own cost
        if (inner in FORWARDERS or inner.startswith("wrap_")) and any(d in callee_dso for d in APP_DSOS):
            return None   # the original native
    return category(block)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--freq", type=float, required=True)
    ap.add_argument("--engines", type=float, required=True, help="engines churned by the churn-N threads")
    ap.add_argument("--all-engines", type=float, default=0,
                    help="engines of the whole JVM (warm-up included): divides other threads' samples")
    ap.add_argument("--title", default="")
    ap.add_argument("--top", type=int, default=4, help="leaf functions listed per agent category")
    args = ap.parse_args()

    churn = collections.Counter()
    leaves = collections.defaultdict(collections.Counter)
    other = collections.Counter()
    n_churn = 0
    comm, frames = None, []

    def flush():
        nonlocal n_churn
        if comm is None:
            return
        if comm.startswith("churn-"):
            n_churn += 1
            cat = classify(frames)
            churn[cat or "application (netty, tcnative, OpenSSL, JVM, JIT)"] += 1
            if cat:
                leaves[cat][leaf_name(frames)] += 1
        elif comm != "java":   # the main thread: start-up and warm-up, not per engine
            agent = any(d.endswith(AGENT_DSO) for _, d in resolve_inlined(frames))
            tagmap = any("JvmtiTagMap" in s for s, _ in frames)
            if agent or tagmap:
                other["%s: %s" % (comm, "agent code" if agent else "JVMTI tag map (dead tags, ObjectFree)")] += 1

    for line in sys.stdin:
        if not line.strip():
            flush()
            comm, frames = None, []
            continue
        if not line[0].isspace():
            flush()
            m = re.match(r"^(.*?)\s+\d+(?:/\d+)?\s+[\d.]+:", line)
            comm = m.group(1).strip() if m else line.split()[0]
            frames = []
            continue
        m = FRAME_RE.match(line)
        if m:
            frames.append((m.group(2), m.group(3).split("/")[-1]))
    flush()

    us = 1e6 / args.freq
    total = n_churn * us / args.engines if args.engines else 0
    print("| %s | µs per engine | share of churn-thread CPU | top leaf functions (share of the category) |"
          % (args.title or "where the CPU goes"))
    print("|---|---:|---:|---|")
    for k, v in sorted(churn.items(), key=lambda kv: -kv[1]):
        top = ", ".join("%s %.0f%%" % (name, 100.0 * c / v) for name, c in leaves[k].most_common(args.top))
        print("| %s | %.2f | %.1f%% | %s |" % (k, v * us / args.engines, 100.0 * v / max(1, n_churn), top))
    agent = sum(v for k, v in churn.items() if not k.startswith("application"))
    print("| **agent total (churn threads)** | **%.2f** | **%.1f%%** | |" % (
        agent * us / args.engines, 100.0 * agent / max(1, n_churn)))
    print("| all (churn threads) | %.2f | 100%% | |" % total)
    every = args.all_engines or args.engines
    for k, v in sorted(other.items(), key=lambda kv: -kv[1]):
        print("| other thread — %s | %.2f | | |" % (k, v * us / every))
    print("\n(%d samples of churn threads at %g Hz; %d engines)" % (n_churn, args.freq, args.engines))


if __name__ == "__main__":
    main()
