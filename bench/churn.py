#!/usr/bin/env python3
"""Engine churn benchmark runner: nraudit.bench.EngineChurn under several
configurations (no agent, the agent with various options, other tools),
repetitions interleaved so that the machine's noise hits every configuration
alike. Prints markdown tables on stdout; progress on stderr.

Not a test: run by hand (bench/run.sh runs it in several shapes). Examples:

  python3 bench/churn.py                                   # agent variants
  python3 bench/churn.py --configs "baseline gperftools heaptrack" \\
      --tool-count 1500 --reps 3                               # other tools
  python3 bench/churn.py --safepoints --configs "baseline default hook=none" \\
      --provider refcnt,openssl --count 100000 --threads 1 --reps 1

Shapes (EngineChurn --mode/--trust/--contexts, passed through):

  --trust ca        server context with client auth, trusting 1 CA (default; the demo)
  --trust default   no trustManager, no client auth: the JVM's default trust
                    store (~144 CAs) is loaded into the server context
                    (tcnative SSLContext.setCACertificateBio)
  --contexts 20     20 server contexts, engines taken round-robin
  --mode churn      newEngine + release (default)
  --mode handshake  full in-memory TLS handshake between a server and a client
                    engine + one application record, both released
  --mode build      build + release one SslContext per operation

  python3 bench/churn.py --configs "baseline default" --trust default
  python3 bench/churn.py --configs "baseline default" --trust default --contexts 20
  python3 bench/churn.py --configs "baseline default" --mode handshake
  python3 bench/churn.py --configs "baseline default" --mode build --trust default

--warmup/--thread-warmup/--count default per mode (churn 20000/2000/30000,
handshake 500/50/400, build 5/2/20); gperftools and heaptrack run with
--tool-count/--tool-warmup (defaults per mode: churn as the agent, handshake
20/10, build 4/1). Ratios are per repetition (config / baseline of the same
repetition); tables give their median and min..max.

The build directory comes from --build, $NRAUDIT_BUILD, or <repo>/build; it
must hold bench/env.sh (cmake --build BUILD --target benchmarks).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"

# name -> (agent options or None, extra env, command prefix)
AGENT_VARIANTS = {
    "baseline": None,
    "default": "",
    "java_sample=16": ",java_sample=16",
    "java_depth=0": ",java_depth=0",
    "hook=none": ",hook=none",
    "hook=none,java_depth=0": ",hook=none,java_depth=0",
    "hook=all": ",hook=all",
}
TOOLS = ("gperftools", "heaptrack")

# Per mode: defaults for the counts (None: as for the agent), the unit of one
# operation and how its times are printed (divisor from ns, unit name).
MODES = {
    "churn": {"warmup": 20000, "thread_warmup": 2000, "count": 30000, "tool_count": None, "tool_warmup": None,
              "op": "engine", "scale": (1000.0, "µs")},
    "handshake": {"warmup": 500, "thread_warmup": 50, "count": 400, "tool_count": 20, "tool_warmup": 10,
                  "op": "handshake", "scale": (1000.0, "µs")},
    "build": {"warmup": 5, "thread_warmup": 2, "count": 20, "tool_count": 4, "tool_warmup": 1,
              "op": "context build", "scale": (1e6, "ms")},
}
MODE_WHAT = {
    "churn": "ctx.newEngine() + release",
    "handshake": "server engine + client engine, full in-memory TLS handshake (wrap/unwrap, delegated tasks), "
                 "one application record client → server, both released",
    "build": "SslContextBuilder ... build() (PEM files read) + release",
}
TRUST_WHAT = {
    "ca": "server: server cert, clientAuth REQUIRE, trustManager(ca.pem) — 1 CA",
    "default": "server: server cert, no trustManager, no clientAuth — the JVM default trust store (~144 CAs) "
               "loaded into the context",
}
WHAT = {
    "baseline": "no agent",
    "default": "agent, default options (Java stack of every engine, hooks in tcnative + libssl/libcrypto)",
    "java_sample=16": "agent, 1 Java stack in 16 after the first 256 per rule",
    "java_depth=0": "agent, no Java stacks",
    "hook=none": "agent, no malloc hooks (wrappers, registry, owner hooks, Java stacks)",
    "hook=none,java_depth=0": "agent, no malloc hooks, no Java stacks (wrappers, registry, owner hooks only)",
    "hook=all": "agent, malloc hooks in every library",
    "gperftools": "gperftools heap profiler (LD_PRELOAD libtcmalloc, HEAPPROFILE)",
    "heaptrack": "heaptrack (LD_PRELOAD libheaptrack_preload)",
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_env(build):
    path = os.path.join(build, "bench", "env.sh")
    env = {}
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"^(NB_\w+)='(.*)'\s*$", line)
                if m:
                    env[m.group(1)] = m.group(2)
    except OSError as e:
        sys.exit("churn.py: %s (build first: cmake --build %s --target benchmarks)" % (e, build))
    return env


def available(cfg):
    if cfg == "gperftools":
        return os.path.exists(TCMALLOC)
    if cfg == "heaptrack":
        return shutil.which("heaptrack") is not None
    return cfg in AGENT_VARIANTS


def command(cfg, nb, args, work, provider, run_id):
    java = nb.get("NB_JAVA") or "java"
    env = dict(os.environ)
    pre = []
    jvm = ["-Xms%s" % args.heap, "-Xmx%s" % args.heap]
    if cfg in AGENT_VARIANTS and AGENT_VARIANTS[cfg] is not None:
        opts = "file=%s/report-%s,log=quiet%s" % (work, run_id, AGENT_VARIANTS[cfg])
        jvm.append("-agentpath:%s=%s" % (nb["NB_AGENT"], opts))
    elif cfg == "gperftools":
        env["LD_PRELOAD"] = TCMALLOC
        env["HEAPPROFILE"] = "%s/hp-%s" % (work, run_id)
    elif cfg == "heaptrack":
        pre = ["heaptrack", "-o", "%s/ht-%s" % (work, run_id)]
    if args.safepoints:
        jvm.append("-Xlog:safepoint,handshake")
    jvm += args.jvm_arg
    count, warmup, thread_warmup = args.count, args.warmup, args.thread_warmup
    if cfg in TOOLS:
        count = args.tool_count or count
        if args.tool_warmup is not None:
            warmup = min(warmup, args.tool_warmup)
            thread_warmup = min(thread_warmup, args.tool_warmup)
    main = ["nraudit.bench.EngineChurn", "--certs", nb["NB_CERTS"], "--provider", provider,
            "--threads", args.threads, "--warmup", str(warmup),
            "--thread-warmup", str(thread_warmup), "--count", str(count),
            "--rounds", str(args.rounds), "--mode", args.mode, "--trust", args.trust,
            "--contexts", str(args.contexts), "--side", args.side]
    cmd = pre + [java] + jvm + ["-Djava.library.path=" + nb["NB_NATIVE"], "-cp", nb["NB_CLASSPATH"]] + main
    return cmd, env


CHURN_RE = re.compile(r"^CHURN provider=(\S+) threads=(\d+) round=(\d+) count=(\d+) ns_per_engine=(\d+) "
                      r"cpu_ns_per_engine=(-?\d+) .*ns_per_engine_drained=(\d+)")
PHASE_RE = re.compile(r"^BENCH-PHASE (\w+)(?: threads=(\d+))?")
SP_RE = re.compile(r'\[(safepoint|handshake)\s*\] (?:Safepoint|Handshake) "([^"]+)"')


def parse(out):
    """Returns {threads: {"ns", "cpu", "drained": best (minimum) over the
    rounds of that JVM, "rounds": n, "count": engines per round, "loop"/"drain":
    safepoint and handshake names seen in the timed loops / in the drains}}."""
    res = {}
    phase, cur = None, None
    for line in out.splitlines():
        m = PHASE_RE.match(line)
        if m:
            kind, t = m.group(1), m.group(2)
            if kind == "start":
                cur = int(t)
                res.setdefault(cur, {"loop": [], "drain": []})
                phase = "loop"
            elif kind == "end":
                phase = "drain"
            else:
                phase = None
            continue
        m = SP_RE.search(line)
        if m and phase and cur is not None:
            res[cur][phase].append("%s %s" % (m.group(1), m.group(2)))
            continue
        m = CHURN_RE.match(line)
        if m:
            t = int(m.group(2))
            r = res.setdefault(t, {"loop": [], "drain": []})
            r["count"] = int(m.group(4))
            r["rounds"] = r.get("rounds", 0) + 1
            for key, v in (("ns", int(m.group(5))), ("cpu", int(m.group(6))), ("drained", int(m.group(7)))):
                r[key] = min(r.get(key, v), v)
    return res


def run_one(cfg, nb, args, work, provider, run_id):
    cmd, env = command(cfg, nb, args, work, provider, run_id)
    t0 = time.time()
    launch_ms = int(t0 * 1000)
    try:
        p = subprocess.run(cmd, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=args.timeout, universal_newlines=True)
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (e.stdout or ""), -1
    wall = time.time() - t0
    res = parse(out)
    m = re.search(r"^BENCH-PHASE warmup wall_ms=(\d+)", out, re.M)
    if m:
        res["startup_ms"] = int(m.group(1)) - launch_ms
    res["jvm_s"] = wall
    if rc != 0 or not any(isinstance(v, dict) and "ns" in v for v in res.values()):
        log("  %s (%s): FAILED rc=%s\n%s" % (cfg, provider, rc, "\n".join(out.splitlines()[-15:])))
        return None, wall
    for f in os.listdir(work):   # reports and profiles: not needed, can be large
        if run_id in f:
            try:
                os.remove(os.path.join(work, f))
            except OSError:
                pass
    return res, wall


SCALE = (1000.0, "µs")   # set from --mode in main()


def fmt_us(ns):
    """ns in the mode's unit (µs for engines and handshakes, ms for context builds)."""
    return "%.2f" % (ns / SCALE[0])


def fmt_ratios(v):
    """median [min..max] of a list of ratios."""
    if not v:
        return "-"
    if len(v) == 1:
        return "%.2f" % v[0]
    return "%.2f [%.2f..%.2f]" % (statistics.median(v), min(v), max(v))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("NRAUDIT_BUILD", os.path.join(HERE, "..", "build")))
    ap.add_argument("--configs", default="baseline default java_sample=16 java_depth=0 hook=none hook=none,java_depth=0",
                    help="configurations separated by spaces or ';' (known: %s)"
                         % " ".join(list(AGENT_VARIANTS) + list(TOOLS)))
    ap.add_argument("--provider", default="refcnt", help="refcnt, openssl or both (comma list)")
    ap.add_argument("--threads", default="1,2", help="thread counts, one timed phase each (same JVM)")
    ap.add_argument("--mode", choices=sorted(MODES), default="churn",
                    help="operation: churn (newEngine + release), handshake (in-memory TLS handshake), "
                         "build (SslContext build + release)")
    ap.add_argument("--trust", choices=("ca", "default"), default="ca",
                    help="ca: client auth + 1 CA (the demo); default: the JVM's default trust store (~144 CAs)")
    ap.add_argument("--contexts", type=int, default=1,
                    help="server contexts, engines taken round-robin (churn, handshake)")
    ap.add_argument("--side", choices=("server", "client"), default="server",
                    help="which contexts churn/build use (handshake: always both)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=None, help="operations on the main thread first "
                    "(default per mode: %s)" % ", ".join("%s %d" % (m, d["warmup"]) for m, d in sorted(MODES.items())))
    ap.add_argument("--thread-warmup", type=int, default=None, help="operations per fresh thread before "
                    "its rounds (default per mode: %s)" % ", ".join(
                        "%s %d" % (m, d["thread_warmup"]) for m, d in sorted(MODES.items())))
    ap.add_argument("--count", type=int, default=None, help="operations per timed round (default per mode: "
                    "%s)" % ", ".join("%s %d" % (m, d["count"]) for m, d in sorted(MODES.items())))
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per thread count per JVM")
    ap.add_argument("--tool-reps", type=int, default=0,
                    help="run gperftools/heaptrack only in the first N repetitions (they are slow)")
    ap.add_argument("--tool-count", type=int, default=None,
                    help="operations per round for gperftools/heaptrack (slow); default per mode "
                         "(churn: --count, handshake 20, build 4)")
    ap.add_argument("--tool-warmup", type=int, default=None,
                    help="at most this many warm-up operations (main thread and per thread) for "
                         "gperftools/heaptrack; default per mode (churn: as --warmup, handshake 10, build 1)")
    ap.add_argument("--target", type=float, default=1.25, help="ratio target shown in the table")
    ap.add_argument("--heap", default="512m")
    ap.add_argument("--safepoints", action="store_true", help="-Xlog:safepoint,handshake; count per phase")
    ap.add_argument("--jvm-arg", action="append", default=[])
    ap.add_argument("--timeout", type=int, default=900, help="seconds per JVM")
    ap.add_argument("--title", default=None)
    args = ap.parse_args()

    md = MODES[args.mode]
    for key in ("warmup", "thread_warmup", "count", "tool_count", "tool_warmup"):
        if getattr(args, key) is None:
            setattr(args, key, md[key])
    if args.tool_count is None:
        args.tool_count = 0          # 0: as --count
    if args.contexts < 1:
        sys.exit("churn.py: --contexts must be at least 1")
    if args.mode == "handshake" and args.side != "server":
        sys.exit("churn.py: --mode handshake runs both sides (no --side client)")
    global SCALE
    SCALE = md["scale"]
    op, unit = md["op"], SCALE[1]

    names = [n for n in re.split(r"[\s;]+", args.configs) if n]
    for n in names:
        if n not in AGENT_VARIANTS and n not in TOOLS:
            sys.exit("churn.py: unknown config '%s'" % n)
    configs = []
    for n in names:
        if available(n):
            configs.append(n)
        else:
            log("churn.py: %s not installed: skipped" % n)
    if "baseline" not in configs:
        configs.insert(0, "baseline")
    providers = [p.strip() for p in args.provider.split(",") if p.strip()]

    nb = read_env(os.path.abspath(args.build))
    work = tempfile.mkdtemp(prefix="nraudit-bench.")
    results = {}  # (provider, cfg) -> list over reps of parse() results (None when failed)
    t_start = time.time()
    try:
        for rep in range(args.reps):
            # Rotate the order each repetition: no configuration always runs first.
            order = configs[rep % len(configs):] + configs[:rep % len(configs)]
            for provider in providers:
                for cfg in order:
                    if cfg in TOOLS and args.tool_reps and rep >= args.tool_reps:
                        continue
                    run_id = "r%d-%s-%s" % (rep, provider, re.sub(r"\W", "_", cfg))
                    res, wall = run_one(cfg, nb, args, work, provider, run_id)
                    results.setdefault((provider, cfg), []).append(res)
                    if res:
                        log("  rep %d %-8s %-24s %s  (%.1f s)" % (
                            rep + 1, provider, cfg,
                            " ".join("T%d=%s%s/%scpu" % (t, fmt_us(v["ns"]), SCALE[1], fmt_us(v["cpu"]))
                                     for t, v in sorted((k, x) for k, x in res.items() if isinstance(k, int))
                                     if "ns" in v),
                            wall))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.time() - t_start

    threads = [int(t) for t in args.threads.split(",")]
    default_title = {"churn": "Engine churn", "handshake": "In-memory TLS handshakes",
                     "build": "SslContext builds"}[args.mode]
    shape = "provider %s, --mode %s, --trust %s%s%s" % (
        args.provider, args.mode, args.trust,
        ", --contexts %d" % args.contexts if args.mode != "build" else "",
        ", --side %s" % args.side if args.side != "server" else "")
    title = args.title or default_title
    print("\n### %s\n" % title)
    print("Shape: %s. One operation (\"%s\"): %s; contexts: %s%s.\n" % (
        shape, op, MODE_WHAT[args.mode],
        TRUST_WHAT[args.trust] if args.side == "server" else
        ("client: forClient() only" if args.trust == "default" else "client: client cert + trustManager(ca.pem)"),
        "; %d contexts built first, used round-robin" % args.contexts
        if args.contexts > 1 and args.mode != "build" else ""))
    ops = op + "s"
    print("EngineChurn: warm-up %d %s; then per thread count %d timed rounds of %d %s (each thread "
          "first runs %d more; full GC before each round); best round per JVM; %d JVMs per configuration, "
          "configurations interleaved (order rotated); -Xms/-Xmx %s; JDK %s. Wall = round time / %s "
          "(2 threads: inverse throughput); CPU = CPU time of the working threads / %s%s. "
          "Ratio = config / baseline of the same repetition: median over the JVMs [min..max]. "
          "Total run time %.0f s.\n" % (args.warmup, ops, args.rounds, args.count, ops, args.thread_warmup,
                                         args.reps, args.heap, java_version(nb), ops, ops,
                                         " (gperftools, heaptrack: warm-up %d, rounds of %d %s, %s JVMs)" % (
                                             min(args.warmup, args.tool_warmup)
                                             if args.tool_warmup is not None else args.warmup,
                                             args.tool_count or args.count, ops, args.tool_reps or args.reps)
                                         if any(c in TOOLS for c in configs) else "",
                                         elapsed))
    per = "%s/%s" % (unit, op)
    for provider in providers:
        drained = provider == "openssl"
        print("| provider | config | threads | wall %s median (min) | wall ratio [min..max] | CPU %s median (min) "
              "| CPU ratio [min..max] | extra CPU %s | target ratio ≤ %.2f |%s" % (
                  per, per, per, args.target,
                  " wall incl. GC + finalization %s | ratio |" % per if drained else ""))
        print("|---|---|---:|---:|---:|---:|---:|---:|---|%s" % ("---:|---:|" if drained else ""))
        base = results.get((provider, "baseline"), [])
        for t in threads:
            for cfg in configs:
                runs = [r for r in results.get((provider, cfg), [])]
                ok = [r[t] for r in runs if r and t in r and "ns" in r[t]]
                if not ok:
                    print("| %s | %s | %d | failed | | | | | |%s" % (provider, cfg, t, " | |" if drained else ""))
                    continue
                pairs = [(r[t], b[t]) for r, b in zip(runs, base)
                         if r and b and t in r and t in b and "ns" in r[t] and "ns" in b[t]]
                # (tools skipped in later repetitions: zip pairs their runs with the first baselines)

                def ratios(key):
                    return [x[key] / y[key] for x, y in pairs if y.get(key, 0) > 0 and x.get(key, 0) > 0]

                def cell(key):
                    v = [x[key] for x in ok if x.get(key, -1) >= 0]
                    return "%s (%s)" % (fmt_us(statistics.median(v)), fmt_us(min(v))) if v else "-"

                rw, rc, rd = ratios("ns"), ratios("cpu"), ratios("drained")
                wr = statistics.median(rw) if rw else None
                cr = statistics.median(rc) if rc else None
                extra = [x["cpu"] - y["cpu"] for x, y in pairs if x.get("cpu", -1) >= 0 and y.get("cpu", -1) >= 0]
                if cfg == "baseline" or cfg in TOOLS:
                    verdict = ""   # the target is the agent's
                elif wr is not None and cr is not None:
                    verdict = ("met" if max(wr, cr) <= args.target else
                               "missed" if min(wr, cr) > args.target else "borderline (wall and CPU disagree)")
                else:
                    verdict = "?"
                row = "| %s | %s | %d | %s | %s | %s | %s | %s | %s |" % (
                    provider, cfg, t, cell("ns"), fmt_ratios(rw), cell("cpu"),
                    fmt_ratios(rc), fmt_us(statistics.median(extra)) if extra else "-", verdict)
                if drained:
                    row += " %s | %s |" % (cell("drained"), fmt_ratios(rd))
                print(row)
        print()
    if any(c in TOOLS for c in configs) and args.tool_count and args.tool_count != args.count:
        print("(gperftools and heaptrack ran fewer %s per round than the others (%d, not %d): their "
              "per-%s times are comparable, their ratios too.)\n" % (ops, args.tool_count, args.count, op))
    print("Configurations: " + "; ".join("`%s`: %s" % (c, WHAT.get(c, c)) for c in configs) + ".\n")
    print("| provider | config | JVM launch → warm-up start, ms (median) | whole JVM run, s (median) |")
    print("|---|---|---:|---:|")
    for provider in providers:
        for cfg in configs:
            runs = [r for r in results.get((provider, cfg), []) if r]
            su = [r["startup_ms"] for r in runs if "startup_ms" in r]
            js = [r["jvm_s"] for r in runs if "jvm_s" in r]
            print("| %s | %s | %s | %s |" % (provider, cfg, "%.0f" % statistics.median(su) if su else "-",
                                             "%.1f" % statistics.median(js) if js else "-"))
    print("\n(start-up: java launch, JVM and agent start, netty's OpenSsl probe, the %s; the whole "
          "run also has the warm-up, the timed rounds and the exit report.)\n" % (
              "%d SslContext%s" % (args.contexts + (1 if args.mode == "handshake" else 0),
                                   "s" if args.contexts + (1 if args.mode == "handshake" else 0) > 1 else "")
              if args.mode != "build" else "first class loads (build mode builds no context before its warm-up)"))

    if args.safepoints:
        print("Safepoints and handshakes (-Xlog:safepoint,handshake) seen during the timed loops, summed over "
              "the repetitions; the drain column is the System.gc() + runFinalization() after each loop.\n")
        print("| provider | config | threads | %s | safepoints in loop | per 100k %s "
              "| VM handshakes in loop | loop VM operations | drain VM operations |" % (ops, ops))
        print("|---|---|---:|---:|---:|---:|---:|---|---|")
        for provider in providers:
            for t in threads:
                for cfg in configs:
                    loop, drain, n = [], [], 0
                    for r in results.get((provider, cfg), []):
                        if r and t in r and "ns" in r[t]:
                            loop += r[t]["loop"]
                            drain += r[t]["drain"]
                            n += r[t].get("count", args.count) * r[t].get("rounds", 1)
                    if not n:
                        continue
                    sp = [x for x in loop if x.startswith("safepoint")]
                    hs = [x for x in loop if x.startswith("handshake")]
                    print("| %s | %s | %d | %d | %d | %.1f | %d | %s | %s |" % (
                        provider, cfg, t, n, len(sp), len(sp) * 100000.0 / n, len(hs),
                        summarize(loop), summarize(drain)))
        print()


def summarize(ops):
    if not ops:
        return "none"
    counts = {}
    for o in ops:
        counts[o] = counts.get(o, 0) + 1
    return ", ".join("%s ×%d" % (k, v) for k, v in sorted(counts.items()))


def java_version(nb):
    try:
        p = subprocess.run([nb.get("NB_JAVA") or "java", "-version"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=30)
        m = re.search(r'version "([^"]+)"', p.stdout)
        return m.group(1) if m else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


if __name__ == "__main__":
    main()
