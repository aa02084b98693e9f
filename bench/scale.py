#!/usr/bin/env python3
"""Scale benchmark: N engines in one JVM under the agent, and what the exit
report says about them.

One JVM (nraudit.bench.EngineChurn, OPENSSL_REFCNT, one server context with
client auth trusting 1 CA, 1 thread, no warm-up, one round) creates and
releases N engines (default 1,000,000) under
-agentpath:libnraudit.so=file=OUT.json,format=json; each engine leaks
netty-tcnative's 32-byte tcn_ssl_state_t (netty-tcnative #532: automatic with
Debian's tcnative 2.0.28). The same program runs once more without the agent.
Printed (markdown on stdout, progress on stderr):

- peak RSS of each JVM (wait4 ru_maxrss: the whole life, exit report
  included) and VmHWM at the program's last line (before the exit report),
  and their difference agent - no agent (per engine too);
- the exit time: from the program's last line (BENCH-PHASE exit, right
  before System.exit) to process exit, with and without the agent, and the
  report's own times (agent.reachability.walk_ms and any other "*_ms" key of
  the agent section);
- the counts against the truth N + 1 (netty's start-up probe engine adds one):
  resources[rule netty-tcnative-ssl].counts.freed and the sum of
  residue.sites[].allocations with size_each == 32 and scope "alloc"; also
  agent.dropped, the notes, and whether any site or finding object carries a
  key "estimated" (the agent marks numbers it had to estimate past its
  allocation table; an agent that does not will count short past max_allocs).

Examples:

  python3 bench/scale.py                                  # 1M engines (~0.5-1 min)
  python3 bench/scale.py --engines 250000 --max-allocs 65536   # quick check past the table
  python3 bench/scale.py --engines 200000 --no-baseline --keep /tmp/scale

The build directory comes from --build, $NRAUDIT_BUILD, or <repo>/build; it
must hold bench/env.sh (cmake --build BUILD --target benchmarks).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RULE = "netty-tcnative-ssl"
LEAK_SIZE = 32


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
        sys.exit("scale.py: %s (build first: cmake --build %s --target benchmarks)" % (e, build))
    return env


def run_jvm(nb, args, agent_opts, work, label):
    """Runs EngineChurn once; returns a dict with rc, rusage max RSS, the exit
    line's fields, the exit time and the CHURN numbers."""
    java = nb.get("NB_JAVA") or "java"
    jvm = ["-Xms%s" % args.heap, "-Xmx%s" % args.heap]
    if args.pretouch:
        jvm.append("-XX:+AlwaysPreTouch")
    if agent_opts is not None:
        jvm.append("-agentpath:%s=%s" % (nb["NB_AGENT"], agent_opts))
    jvm += args.jvm_arg
    cmd = [java] + jvm + ["-Djava.library.path=" + nb["NB_NATIVE"], "-cp", nb["NB_CLASSPATH"],
                          "nraudit.bench.EngineChurn", "--certs", nb["NB_CERTS"], "--provider", "refcnt",
                          "--mode", "churn", "--trust", "ca", "--contexts", "1", "--threads", "1",
                          "--warmup", "0", "--thread-warmup", "0", "--rounds", "1",
                          "--count", str(args.engines)]
    log("scale: %s: %s" % (label, " ".join(cmd)))
    t0 = time.time()
    p = subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    lines = []
    seen = {}

    def reader():
        for line in p.stdout:
            if line.startswith("BENCH-PHASE exit"):
                seen["exit_line_read"] = time.time()
            lines.append(line.rstrip("\n"))

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    timer = threading.Timer(args.timeout, lambda: p.kill())
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    t_end = time.time()
    p.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else (status >> 8)
    th.join(10)
    out = "\n".join(lines)
    res = {"rc": p.returncode, "maxrss_kb": ru.ru_maxrss, "jvm_s": t_end - t0, "out": out}
    m = re.search(r"^BENCH-PHASE exit wall_ms=(\d+) vmhwm_kb=(-?\d+) vmrss_kb=(-?\d+)", out, re.M)
    if m:
        res["exit_wall_ms"] = int(m.group(1))
        res["hwm_kb"] = int(m.group(2))
        res["rss_kb"] = int(m.group(3))
        res["exit_s"] = t_end - int(m.group(1)) / 1000.0
    m = re.search(r"^CHURN .* count=(\d+) ns_per_engine=(\d+) cpu_ns_per_engine=(-?\d+)", out, re.M)
    if m:
        res["ns"] = int(m.group(2))
        res["cpu"] = int(m.group(3))
    if p.returncode != 0 or "exit_s" not in res:
        log("scale: %s FAILED rc=%s\n%s" % (label, p.returncode, "\n".join(lines[-20:])))
    else:
        log("scale: %s: %.1f s, peak RSS %.1f MiB, %.2f µs/engine, exit %.2f s" % (
            label, res["jvm_s"], res["maxrss_kb"] / 1024.0, res.get("ns", 0) / 1000.0, res["exit_s"]))
    return res


def find_key(obj, key, path="", hits=None):
    """Paths (a.b[3].c) of every occurrence of key in a JSON value."""
    if hits is None:
        hits = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = "%s.%s" % (path, k) if path else k
            if k == key:
                hits.append((p, v))
            find_key(v, key, p, hits)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            find_key(v, key, "%s[%d]" % (path, i), hits)
    return hits


def ms_keys(obj, path="", out=None):
    """Numeric keys ending in _ms (not timestamps) anywhere in obj."""
    if out is None:
        out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = "%s.%s" % (path, k) if path else k
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k.endswith("_ms") \
                    and k not in ("timestamp_ms", "uptime_ms"):
                out.append((p, v))
            else:
                ms_keys(v, p, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            ms_keys(v, "%s[%d]" % (path, i), out)
    return out


def mib(kb):
    return "%.1f" % (kb / 1024.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("NRAUDIT_BUILD", os.path.join(HERE, "..", "build")))
    ap.add_argument("--engines", type=int, default=1000000, help="engines created and released (default 1M)")
    ap.add_argument("--max-allocs", type=int, default=None,
                    help="pass max_allocs=K to the agent (default: the agent's, 1M entries)")
    ap.add_argument("--agent-opts", default="", help="more agent options, e.g. java_sample=1")
    ap.add_argument("--heap", default="512m", help="-Xms/-Xmx (default 512m)")
    ap.add_argument("--no-pretouch", dest="pretouch", action="store_false",
                    help="no -XX:+AlwaysPreTouch (default: pre-touch the heap, so that the RSS difference "
                         "is the native side's, not how much heap each JVM happened to touch)")
    ap.add_argument("--no-baseline", dest="baseline", action="store_false", help="skip the JVM without agent")
    ap.add_argument("--jvm-arg", action="append", default=[])
    ap.add_argument("--timeout", type=int, default=900, help="seconds per JVM")
    ap.add_argument("--keep", default=None, help="directory for the report JSON (kept); default a temp dir")
    ap.add_argument("--title", default=None)
    args = ap.parse_args()
    if args.engines < 64:
        sys.exit("scale.py: --engines must be at least 64")

    nb = read_env(os.path.abspath(args.build))
    work = args.keep or tempfile.mkdtemp(prefix="nraudit-scale.")
    os.makedirs(work, exist_ok=True)
    report_path = os.path.join(work, "scale-report.json")
    if os.path.exists(report_path):
        os.remove(report_path)
    opts = "file=%s,format=json,log=quiet" % report_path
    if args.max_allocs is not None:
        opts += ",max_allocs=%d" % args.max_allocs
    if args.agent_opts:
        opts += "," + args.agent_opts.lstrip(",")
    t_start = time.time()
    try:
        base = run_jvm(nb, args, None, work, "no agent") if args.baseline else None
        agent = run_jvm(nb, args, opts, work, "agent")
        report = None
        try:
            with open(report_path) as f:
                report = json.load(f)
        except (OSError, ValueError) as e:
            log("scale: no usable report at %s: %s" % (report_path, e))
        elapsed = time.time() - t_start
        print_tables(args, nb, opts, base, agent, report, elapsed)
        if args.keep:
            log("scale: report kept in %s" % report_path)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if agent.get("rc") != 0 or report is None:
        sys.exit(1)


def print_tables(args, nb, opts, base, agent, report, elapsed):
    n = args.engines
    truth = n + 1
    title = args.title or "Scale: %s engines in one JVM under the agent" % format(n, ",")
    print("\n### %s\n" % title)
    print("EngineChurn --mode churn --trust ca (OPENSSL_REFCNT, one server context trusting 1 CA, client auth), "
          "1 thread, no warm-up, one round of %d engines created and released; each leaks tcnative's %d-byte "
          "state (#532). Agent options `%s`. -Xms/-Xmx %s%s. Truth: %d engines freed and %d leaked states "
          "(netty's start-up probe engine adds one). Total run time %.0f s.\n" % (
              n, LEAK_SIZE, re.sub(r"file=[^,]*", "file=OUT.json", opts), args.heap,
              ", -XX:+AlwaysPreTouch" if args.pretouch else "", truth, truth, elapsed))

    print("| JVM | µs/engine (CPU) | peak RSS MiB (whole life) | VmHWM MiB at last line | RSS MiB at last line "
          "| last line → exit, s | whole run, s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, r in (("no agent", base), ("agent", agent)):
        if r is None:
            continue
        if r.get("rc") != 0 or "exit_s" not in r:
            print("| %s | failed (rc %s) | | | | | |" % (label, r.get("rc")))
            continue
        print("| %s | %.2f (%.2f) | %s | %s | %s | %.2f | %.1f |" % (
            label, r.get("ns", 0) / 1000.0, r.get("cpu", 0) / 1000.0, mib(r["maxrss_kb"]), mib(r["hwm_kb"]),
            mib(r["rss_kb"]), r["exit_s"], r["jvm_s"]))
    if base and base.get("rc") == 0 and agent.get("rc") == 0 and "hwm_kb" in base and "hwm_kb" in agent:
        d_peak = agent["maxrss_kb"] - base["maxrss_kb"]
        d_hwm = agent["hwm_kb"] - base["hwm_kb"]
        print("| agent − no agent | | %s (%.1f B/engine) | %s (%.1f B/engine) | | %+.2f | |" % (
            mib(d_peak), d_peak * 1024.0 / n, mib(d_hwm), d_hwm * 1024.0 / n,
            agent["exit_s"] - base["exit_s"]))
    print()

    if report is None:
        print("No report: the agent JVM wrote no readable %s.\n" % "JSON")
        return
    a = report.get("agent", {})
    res = None
    for r in report.get("resources", []):
        if r.get("rule") == RULE:
            res = r
    times = ms_keys(a)
    print("Report: trigger `%s`, agent %s; report times: %s.\n" % (
        report.get("trigger"), a.get("version"),
        ", ".join("`%s` %.1f ms" % (p, v) for p, v in times) or "none in the agent section"))
    if res is None:
        print("No resource with rule `%s` in the report.\n" % RULE)
        return
    counts = res.get("counts", {})
    residue = res.get("residue", {})
    sites = residue.get("sites", [])
    leak_sites = [s for s in sites if s.get("size_each") == LEAK_SIZE and s.get("scope") == "alloc"]
    leaked = sum(s.get("allocations", 0) for s in leak_sites)
    freed = counts.get("freed")
    est = find_key(sites, "estimated", "residue.sites") + find_key(res.get("findings", []), "estimated", "findings")
    est_anywhere = find_key(report, "estimated")

    def vs(v):
        if not isinstance(v, int):
            return "-"
        d = v - truth
        return "%+d (%+.2f %%)" % (d, 100.0 * d / truth)

    print("| count | report | truth | report − truth |")
    print("|---|---:|---:|---|")
    print("| `counts.allocated` | %s | %d | %s |" % (counts.get("allocated"), truth, vs(counts.get("allocated"))))
    print("| `counts.freed` | %s | %d | %s |" % (freed, truth, vs(freed)))
    print("| `counts.freed_with_residue` | %s | %d | %s |" % (
        counts.get("freed_with_residue"), truth, vs(counts.get("freed_with_residue"))))
    print("| residue: Σ sites[size_each=%d, scope=alloc].allocations (%d sites) | %d | %d | %s |" % (
        LEAK_SIZE, len(leak_sites), leaked, truth, vs(leaked)))
    print("| residue: all sites' allocations (%d sites, %s omitted) / `residue.allocations` | %d / %s | | |" % (
        len(sites), residue.get("sites_omitted", 0), sum(s.get("allocations", 0) for s in sites),
        residue.get("allocations")))
    print()
    print("- `agent.dropped`: %s; `counts.dropped`: %s" % (a.get("dropped"), counts.get("dropped")))
    print("- numbers marked estimated (`estimated` in a site or finding of `%s`): %s" % (
        RULE, "yes: " + ", ".join("%s=%s" % (p, json.dumps(v)) for p, v in est[:6])
        + (" (+%d more)" % (len(est) - 6) if len(est) > 6 else "") if est else "no"))
    if est_anywhere and not est:
        print("- `estimated` elsewhere in the report: " + ", ".join(
            "%s=%s" % (p, json.dumps(v)) for p, v in est_anywhere[:6]))
    stats = a.get("stats", {})
    if stats:
        print("- agent stats: " + ", ".join("%s %s" % (k, v) for k, v in stats.items()))
    for note in a.get("notes", []):
        print("- note: %s" % note)
    for f in res.get("findings", [])[:4]:
        print("- finding `%s`: %s" % (f.get("kind"), f.get("summary")))
    print()


if __name__ == "__main__":
    main()
