#!/usr/bin/env python3
"""Report pause benchmark: how long a report stops the JVM (its heap walk is
a VM operation at a safepoint), measured by the agent and by HotSpot's own
safepoint log.

Two parts, each for every JDK given (default: JDK 17 `java`, and Temurin 25
when installed), the agent with `file=DIR/r-%p,format=json` and
-Xlog:safepoint:file=SP.log:

zombies  java-test's `Scenarios zombies K` (OPENSSL engines created and
         released behind a blocked Finalizer: K freed owners wait in the heap)
         for each K (default 100000, 500000, 1000000). After SCENARIO-DONE:
         `jcmd PID JVMTI.data_dump` (the jcmd of the same JDK), then the
         --wait-file is touched and the JVM exits (exit report: zombies are
         always counted). For both reports: agent.reachability {walk_ms,
         pause_ms, follow_references_ms, iterate_heap_ms, zombies_counted},
         resources[0].counts.zombies, and the safepoint log's
         "HeapWalkOperation" (FollowReferences) and "HeapIterateOperation"
         (IterateThroughHeap) lines written during that report ("At safepoint"
         and "Total" ns). Heap: -Xmx256m when it fits, else the smallest of
         --heaps that does (a JVM that does not reach SCENARIO-DONE is retried
         with the next; the table says which was used). --reps JVMs per JDK and
         K, interleaved (order rotated each repetition).
storm    `Scenarios storm 100000000 --threads 2 --seconds 12` (REFCNT engines
         released and OPENSSL engines dropped for finalize(), 2 threads) with a
         data dump about every --interval s while it runs: per report pause_ms,
         walk_ms, the jcmd wall time and the safepoint log's lines; min /
         median / max over the dumps.

Prints markdown tables on stdout; progress on stderr. Not a test: run by hand
(bench/run.sh part "pause").

  python3 bench/pause.py                            # everything (~5-8 min)
  python3 bench/pause.py --parts zombies --ks 100000 --reps 1 --jdks java
  python3 bench/pause.py --parts storm --seconds 6

The build directory comes from --build, $NRAUDIT_BUILD, or <repo>/build; it
must hold libnraudit.so and java-test (classpath.txt, native/, certs/).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TEMURIN25 = "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java"
WALK_OPS = ("HeapWalkOperation", "HeapIterateOperation")
REACH_KEYS = ("walk_ms", "pause_ms", "follow_references_ms", "iterate_heap_ms")
STORM_FINAL_GCS = 6   # Scenarios storm ends with Cli.gc(6, true): 6 System.gc() + runFinalization()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- helpers -----------------------------------------------------------------------------

def jdk_info(java):
    """(label, jcmd path) for a java launcher."""
    real = os.path.realpath(shutil.which(java) or java)
    jcmd = os.path.join(os.path.dirname(real), "jcmd")
    if not os.path.exists(jcmd):
        jcmd = shutil.which("jcmd") or "jcmd"
    label = "?"
    try:
        p = subprocess.run([java, "-version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=30)
        m = re.search(r'version "([^"]+)"', p.stdout)
        vendor = "Temurin" if "Temurin" in p.stdout else ("Debian" if "Debian" in p.stdout else "")
        if m:
            label = ("%s %s" % (vendor, m.group(1))).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return label, jcmd


SP_NAME_RE = re.compile(r'Safepoint "([^"]+)"')
SP_UPTIME_RE = re.compile(r"^\[(\d+(?:\.\d+)?)s\]")
SP_FIELD_RE = {k: re.compile(r"%s: (\d+) ns" % k) for k in ("Reaching safepoint", "At safepoint", "Total")}


def sp_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def sp_read(path, offset):
    """Safepoint log lines from byte offset on: list of (name, {field: ns, "uptime": s})."""
    out = []
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return out
    for line in data.splitlines():
        m = SP_NAME_RE.search(line)
        if not m:
            continue
        fields = {}
        mu = SP_UPTIME_RE.match(line)
        if mu:
            fields["uptime"] = float(mu.group(1))
        for k, rx in SP_FIELD_RE.items():
            mm = rx.search(line)
            if mm:
                fields[k] = int(mm.group(1))
        out.append((m.group(1), fields))
    return out


def sp_summary(lines):
    """{op: {"n", "at_ms", "total_ms"}} for the heap walk operations (summed when
    one report ran an op more than once) and "other": names of any other
    safepoint in the window."""
    res = {}
    other = {}
    for name, f in lines:
        if name in WALK_OPS:
            s = res.setdefault(name, {"n": 0, "at_ms": 0.0, "total_ms": 0.0, "uptime": f.get("uptime")})
            s["n"] += 1
            s["at_ms"] += f.get("At safepoint", 0) / 1e6
            s["total_ms"] += f.get("Total", 0) / 1e6
        else:
            other[name] = other.get(name, 0) + 1
    res["other"] = other
    return res


def read_report(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def report_fields(rep):
    """The numbers this benchmark reads from one report."""
    a = rep.get("agent", {})
    reach = a.get("reachability", {}) or {}
    d = {"trigger": rep.get("trigger"), "timestamp_ms": rep.get("timestamp_ms"),
         "done": reach.get("done"), "zombies_counted": reach.get("zombies_counted"),
         "owners_in_heap": reach.get("owners_in_heap")}
    for k in REACH_KEYS:
        d[k] = reach.get(k)
    res = rep.get("resources", [])
    d["zombies"] = res[0].get("counts", {}).get("zombies") if res else None
    d["allocated"] = sum(r.get("counts", {}).get("allocated", 0) for r in res)
    d["notes"] = a.get("notes", [])
    return d


class Jvm:
    """One java process, stdout+stderr read by a thread; SCENARIO-DONE noticed."""

    def __init__(self, cmd, cwd, timeout):
        log("pause: " + " ".join(cmd))
        self.t0 = time.time()
        self.p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True)
        self.pid = self.p.pid
        self.lines = []
        self.done = threading.Event()
        self.running = threading.Event()   # Scenarios storm prints STORM-RUNNING once its threads run
        self.summary = None
        self.rusage = None
        self.rc = None
        self.t_exit = None
        self.killer = threading.Timer(timeout, self.kill)
        self.killer.start()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if line.startswith("SCENARIO ") and not line.startswith("SCENARIO-DONE"):
                self.summary = line
            if line.startswith("STORM-RUNNING"):
                self.running.set()
            if line.startswith("SCENARIO-DONE"):
                self.done.set()

    def kill(self):
        try:
            self.p.kill()
        except OSError:
            pass

    def _reap(self, flags):
        """os.wait4 (not Popen.poll, which would reap without the rusage); True once exited."""
        if self.rc is not None:
            return True
        try:
            pid, status, ru = os.wait4(self.pid, flags)
        except ChildProcessError:
            pid, status, ru = self.pid, 0, None
        if pid == 0:
            return False
        self.t_exit = time.time()
        self.killer.cancel()
        self.rc = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
        self.p.returncode = self.rc
        self.rusage = ru
        return True

    def alive(self):
        return not self._reap(os.WNOHANG)

    def wait_done(self, timeout):
        """True once SCENARIO-DONE was printed; False if the JVM exited or timed out first."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.done.wait(0.2):
                return True
            if self._reap(os.WNOHANG):
                self.reader.join(5)
                return self.done.is_set()
        return False

    def wait_exit(self):
        self._reap(0)
        self.reader.join(10)
        return self.rc

    def tail(self, n=12):
        return "\n".join(self.lines[-n:])


def jcmd_dump(jcmd, pid, timeout=300):
    t0 = time.time()
    try:
        p = subprocess.run([jcmd, str(pid), "JVMTI.data_dump"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=timeout)
        ok = p.returncode == 0 and "Command executed successfully" in p.stdout
        out = p.stdout
    except (OSError, subprocess.SubprocessError) as e:
        ok, out = False, str(e)
    return ok, time.time() - t0, out


def base_cmd(java, nb, sp_log, report_tmpl, heap):
    cmd = [java]
    if heap:
        cmd.append("-Xmx%s" % heap)
    cmd += ["-Xlog:safepoint:file=%s" % sp_log,
            "-agentpath:%s=file=%s,format=json" % (nb["agent"], report_tmpl),
            "-Djava.library.path=" + nb["native"], "-cp", nb["classpath"], "nraudit.demo.Scenarios"]
    return cmd


# ---- zombies -------------------------------------------------------------------------------

def run_zombies(java, jcmd, k, heap, nb, args, work):
    """One JVM; returns a result dict, or {"fail": reason, "oom": bool}."""
    d = tempfile.mkdtemp(prefix="z%d-" % k, dir=work)
    sp = os.path.join(d, "SP.log")
    go = os.path.join(d, "go")
    cmd = base_cmd(java, nb, sp, os.path.join(d, "r-%p"), heap) + [
        "zombies", str(k), "--certs", nb["certs"], "--wait-file", go, "--wait-timeout", str(args.timeout)]
    jvm = Jvm(cmd, d, args.timeout + 120)
    res = {"heap": heap}
    try:
        if not jvm.wait_done(args.timeout):
            jvm.kill()
            jvm.wait_exit()
            out = "\n".join(jvm.lines)
            return {"fail": "no SCENARIO-DONE (rc %s)" % jvm.rc, "oom": "OutOfMemoryError" in out,
                    "tail": jvm.tail()}
        res["scenario_s"] = time.time() - jvm.t0
        m = re.search(r"elapsed_ms=(\d+)", jvm.summary or "")
        res["scenario_ms"] = int(m.group(1)) if m else None
        report = os.path.join(d, "r-%d.json" % jvm.pid)
        # data dump
        off = sp_size(sp)
        ok, wall, out = jcmd_dump(jcmd, jvm.pid)
        if not ok:
            jvm.kill()
            jvm.wait_exit()
            return {"fail": "jcmd failed: %s" % out.strip()[-200:], "oom": False}
        time.sleep(0.05)
        rep = read_report(report)
        if not rep or rep.get("trigger") != "datadump":
            jvm.kill()
            jvm.wait_exit()
            return {"fail": "no datadump report in %s" % report, "oom": False}
        res["dump"] = report_fields(rep)
        res["dump"]["jcmd_s"] = wall
        res["dump"]["sp"] = sp_summary(sp_read(sp, off))
        # exit
        off = sp_size(sp)
        t_go = time.time()
        with open(go, "w"):
            pass
        jvm.wait_exit()
        rep = read_report(report)
        if jvm.rc != 0 or not rep or rep.get("trigger") != "exit":
            return {"fail": "exit rc %s, report %s" % (jvm.rc, rep.get("trigger") if rep else None),
                    "oom": False, "tail": jvm.tail()}
        res["exit"] = report_fields(rep)
        res["exit"]["exit_s"] = jvm.t_exit - t_go
        res["exit"]["sp"] = sp_summary(sp_read(sp, off))
        res["maxrss_kb"] = jvm.rusage.ru_maxrss if jvm.rusage else None
        return res
    finally:
        if jvm.rc is None:
            jvm.kill()
            jvm.wait_exit()
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)


def heap_mb(h):
    m = re.match(r"^(\d+)([mMgG])$", h)
    if not m:
        return 0
    return int(m.group(1)) * (1024 if m.group(2) in "gG" else 1)


def zombies_part(args, nb, jdks, work):
    ks = [int(x) for x in args.ks.split(",") if x.strip()]
    heaps = [h for h in args.heaps.split(",") if h.strip()]
    fit = {}        # (jdk, k) -> heap that fitted
    tried = {}      # (jdk, k) -> heaps that did not fit (noted in the table)
    results = {}    # (jdk, k) -> list of run results
    cells = [(j, k) for j in range(len(jdks)) for k in ks]
    t_start = time.time()
    for rep in range(args.reps):
        # Repetition 0 in natural order (K ascending: a K starts its heap search at the
        # heap that fitted the K below); later ones rotated.
        order = cells if rep == 0 else cells[rep % len(cells):] + cells[:rep % len(cells)]
        for j, k in order:
            java, label, jcmd = jdks[j]
            if (j, k) in fit:
                start = heaps.index(fit[(j, k)])
            else:
                below = [heaps.index(fit[(j, kk)]) for kk in ks if kk < k and (j, kk) in fit]
                start = max(below) if below else 0
            res = None
            for hi in range(start, len(heaps)):
                heap = heaps[hi]
                res = run_zombies(java, jcmd, k, heap, nb, args, work)
                if "fail" not in res:
                    fit[(j, k)] = heap
                    break
                log("pause: %s K=%d -Xmx%s: %s%s" % (label, k, heap, res["fail"],
                                                      " (OutOfMemoryError)" if res.get("oom") else ""))
                if res.get("tail"):
                    log(res["tail"])
                if not res.get("oom") and "no SCENARIO-DONE" not in res["fail"]:
                    break    # not a heap problem: do not retry with a larger heap
                tried.setdefault((j, k), []).append(heap)
            results.setdefault((j, k), []).append(res)
            if res and "fail" not in res:
                dmp, ex = res["dump"], res["exit"]
                log("pause: rep %d %s K=%d -Xmx%s: dump pause %.1f ms walk %.1f ms zombies %s (%s) | "
                    "exit pause %.1f ms walk %.1f ms zombies %s | jcmd %.2f s, exit %.2f s" % (
                        rep + 1, label, k, res["heap"], dmp["pause_ms"] or -1, dmp["walk_ms"] or -1,
                        dmp["zombies"], "counted" if dmp["zombies_counted"] else "skipped",
                        ex["pause_ms"] or -1, ex["walk_ms"] or -1, ex["zombies"], dmp["jcmd_s"], ex["exit_s"]))
    elapsed = time.time() - t_start
    print_zombies(args, jdks, ks, results, fit, tried, elapsed)


def med_cell(v, fmt="%.1f"):
    v = [x for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
    if not v:
        return "-"
    if len(v) == 1:
        return fmt % v[0]
    return ("%s (%s..%s)" % (fmt, fmt, fmt)) % (statistics.median(v), min(v), max(v))


def sp_cell(runs, key, op):
    """median (min..max) of an op's At safepoint / Total ms; ×n when an op ran more than once."""
    at = [r[key]["sp"][op]["at_ms"] for r in runs if op in r[key]["sp"]]
    tot = [r[key]["sp"][op]["total_ms"] for r in runs if op in r[key]["sp"]]
    ns = sorted(set(r[key]["sp"][op]["n"] for r in runs if op in r[key]["sp"]))
    missing = sum(1 for r in runs if op not in r[key]["sp"])
    if not at:
        return "none"
    s = "%s / %s" % (med_cell(at), med_cell(tot))
    if ns != [1]:
        s += " (×%s)" % "/".join(str(n) for n in ns)
    if missing:
        s += " (absent in %d)" % missing
    return s


def print_zombies(args, jdks, ks, results, fit, tried, elapsed):
    print("\n### Report pause: K freed engines waiting in the heap (zombies)\n")
    print("java-test `Scenarios zombies K` (OPENSSL engines created and released while a blocked finalize() holds "
          "the Finalizer thread: K freed owners stay in the heap, plus netty's probe engine), agent "
          "`file=DIR/r-%%p,format=json`, `-Xlog:safepoint:file=SP.log`. After SCENARIO-DONE (3 × System.gc()): "
          "`jcmd PID JVMTI.data_dump` (datadump row), then the wait file is touched and the JVM exits (exit row; "
          "the exit report always counts zombies). %d JVM%s per JDK and K, interleaved; cells are median "
          "(min..max) over them. Agent columns from `agent.reachability`; safepoint columns from the safepoint log "
          "lines written during that report, `At safepoint` / `Total` in ms (FollowReferences = "
          "HeapWalkOperation, IterateThroughHeap = HeapIterateOperation). Total run time %.0f s.\n" % (
              args.reps, "s" if args.reps > 1 else "", elapsed))
    print("| JDK | K | -Xmx | report | pause_ms | walk_ms | follow_references_ms | iterate_heap_ms "
          "| HeapWalkOperation ms (at / total) | HeapIterateOperation ms (at / total) | zombies counted "
          "| counts.zombies | owners_in_heap | jcmd wall s / exit s |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    notes = []
    for j, (java, label, jcmd) in enumerate(jdks):
        for k in ks:
            allr = results.get((j, k), [])
            runs = [r for r in allr if r and "fail" not in r]
            fails = [r for r in allr if not r or "fail" in r]
            heapc = fit.get((j, k), "-")
            if (j, k) in tried:
                heapc += " (%s: did not fit)" % ", ".join(sorted(set(tried[(j, k)]), key=heap_mb))
            if not runs:
                print("| %s | %d | %s | failed: %s | | | | | | | | | | |" % (
                    label, k, heapc, "; ".join(r["fail"] for r in fails if r)))
                continue
            for key in ("dump", "exit"):
                zc = [r[key]["zombies_counted"] for r in runs]
                zcs = "yes" if all(zc) else ("no" if not any(zc) else "%d of %d" % (sum(1 for x in zc if x), len(zc)))
                z = [r[key]["zombies"] for r in runs if r[key]["zombies_counted"]]
                zset = sorted(set(x for x in z if x is not None))
                last = med_cell([r[key]["jcmd_s"] if key == "dump" else r[key]["exit_s"] for r in runs], "%.2f")
                print("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    label, k, heapc, "datadump" if key == "dump" else "exit",
                    med_cell([r[key]["pause_ms"] for r in runs]), med_cell([r[key]["walk_ms"] for r in runs]),
                    med_cell([r[key]["follow_references_ms"] for r in runs]),
                    med_cell([r[key]["iterate_heap_ms"] for r in runs]),
                    sp_cell(runs, key, "HeapWalkOperation"), sp_cell(runs, key, "HeapIterateOperation"),
                    zcs, "/".join(str(x) for x in zset) or "not counted",
                    "/".join(str(x) for x in sorted(set(r[key]["owners_in_heap"] for r in runs
                                                        if r[key]["owners_in_heap"] is not None
                                                        and r[key]["zombies_counted"]))) or "not counted",
                    last))
                for r in runs:
                    other = r[key]["sp"].get("other")
                    if other:
                        notes.append("%s K=%d %s: other safepoints during the report: %s" % (
                            label, k, key, ", ".join("%s ×%d" % x for x in sorted(other.items()))))
                    for n in r[key]["notes"]:
                        if "Java stacks sampled" not in n:
                            notes.append("%s K=%d %s note: %s" % (label, k, key, n))
            if fails:
                notes.append("%s K=%d: %d failed JVM(s): %s" % (label, k, len(fails),
                                                               "; ".join(r["fail"] for r in fails if r)))
    print()
    rss = []
    for j, (java, label, jcmd) in enumerate(jdks):
        for k in ks:
            runs = [r for r in results.get((j, k), []) if r and "fail" not in r]
            if runs:
                rss.append("%s K=%d %s MiB, scenario %s s" % (
                    label, k, med_cell([r["maxrss_kb"] / 1024.0 for r in runs if r.get("maxrss_kb")], "%.0f"),
                    med_cell([r["scenario_ms"] / 1000.0 for r in runs if r.get("scenario_ms")], "%.1f")))
    if rss:
        print("Peak RSS (whole JVM life) and the scenario's own time (K engines + 3 GCs): " + "; ".join(rss) + ".\n")
    for n in sorted(set(notes)):
        print("- " + n)
    if notes:
        print()


# ---- storm ---------------------------------------------------------------------------------

def storm_part(args, nb, jdks, work):
    rows = []
    t_start = time.time()
    for java, label, jcmd in jdks:
        d = tempfile.mkdtemp(prefix="storm-", dir=work)
        sp = os.path.join(d, "SP.log")
        go = os.path.join(d, "go")
        cmd = base_cmd(java, nb, sp, os.path.join(d, "r-%p"), args.storm_heap) + [
            "storm", str(args.storm_count), "--threads", str(args.threads), "--seconds", str(args.seconds),
            "--certs", nb["certs"], "--wait-file", go, "--wait-timeout", str(args.timeout)]
        jvm = Jvm(cmd, d, args.seconds + args.timeout)
        report = os.path.join(d, "r-%d.json" % jvm.pid)
        dumps, failed = [], 0
        # First dump once the storm threads run (STORM-RUNNING; older Scenarios do not say it:
        # then --first-dump s after launch), --first-dump s at the earliest.
        jvm.running.wait(args.first_dump + 30)
        time.sleep(max(0.0, args.first_dump - (time.time() - jvm.t0)))
        started_by = "STORM-RUNNING" if jvm.running.is_set() else "time"
        last_ts = None
        try:
            while jvm.alive() and not jvm.done.is_set():
                t_tick = time.time()
                off = sp_size(sp)
                ok, wall, out = jcmd_dump(jcmd, jvm.pid, timeout=120)
                if jvm.done.is_set():
                    break    # the storm ended during this dump: not a mid-run report
                rep = read_report(report) if ok else None
                if not ok or not rep or rep.get("trigger") != "datadump" or rep.get("timestamp_ms") == last_ts:
                    failed += 1
                    log("pause: storm %s: dump failed: %s" % (label, out.strip()[-200:]))
                else:
                    last_ts = rep.get("timestamp_ms")
                    f = report_fields(rep)
                    f["jcmd_s"] = wall
                    f["sp"] = sp_summary(sp_read(sp, off))
                    f["t"] = t_tick - jvm.t0
                    dumps.append(f)
                    log("pause: storm %s t=%.1f s: pause %.1f ms walk %.1f ms (follow %.1f, iterate %.1f), "
                        "zombies %s, owners_in_heap %s, allocated %s, jcmd %.2f s" % (
                            label, f["t"], f["pause_ms"] or -1, f["walk_ms"] or -1,
                            f["follow_references_ms"] or -1, f["iterate_heap_ms"] or -1,
                            f["zombies"] if f["zombies_counted"] else "skipped", f["owners_in_heap"], f["allocated"], wall))
                time.sleep(max(0.0, args.interval - (time.time() - t_tick)))
            jvm.wait_done(args.timeout)
            off = sp_size(sp)
            t_go = time.time()
            with open(go, "w"):
                pass
            jvm.wait_exit()
            rep = read_report(report)
            ex = None
            if rep and rep.get("trigger") == "exit":
                ex = report_fields(rep)
                ex["sp"] = sp_summary(sp_read(sp, off))
                ex["exit_s"] = jvm.t_exit - t_go
            gc = [x for x in sp_read(sp, 0) if x[0] not in WALK_OPS]
            # The storm ends with Cli.gc(6): its 6 System.gc() are the run's last 6 G1CollectFull. A dump
            # is mid-run when its heap walk came before the first of them (its registry snapshot is
            # taken earlier, so its counts cannot tell).
            fulls = [f.get("uptime") for name, f in gc if name == "G1CollectFull"]
            end = fulls[-STORM_FINAL_GCS] if len(fulls) >= STORM_FINAL_GCS else None
            for f in dumps:
                w = f["sp"].get("HeapWalkOperation", {}).get("uptime")
                f["mid"] = end is None or w is None or w < end
            rows.append({"label": label, "dumps": dumps, "failed": failed, "exit": ex, "rc": jvm.rc,
                         "started_by": started_by,
                         "summary": jvm.summary, "gc": gc, "tail": jvm.tail()})
            if jvm.rc != 0:
                log("pause: storm %s: rc %s\n%s" % (label, jvm.rc, jvm.tail()))
        finally:
            if jvm.rc is None:
                jvm.kill()
                jvm.wait_exit()
            if not args.keep:
                shutil.rmtree(d, ignore_errors=True)
    print_storm(args, rows, time.time() - t_start)


def mmm(v, fmt="%.1f"):
    v = [x for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
    if not v:
        return "-"
    return ("%s / %s / %s" % (fmt, fmt, fmt)) % (min(v), statistics.median(v), max(v))


def print_storm(args, rows, elapsed):
    print("\n### Report pause during engine churn (data dumps mid-run)\n")
    print("java-test `Scenarios storm %d --threads %d --seconds %d` (each thread alternates an OPENSSL_REFCNT "
          "engine created and released with an OPENSSL engine dropped for finalize() to free), %s, agent "
          "`file=DIR/r-%%p,format=json`, `-Xlog:safepoint:file=SP.log`; `jcmd PID JVMTI.data_dump` about every "
          "%.1f s from STORM-RUNNING (at least %.1f s after launch) until the storm ends (dumps are sequential: the next starts when the "
          "last has returned; dumps whose heap walk ran after the storm, during its final System.gc() + "
          "runFinalization() rounds, are listed below the table, not in it). Cells: min / median / max over the dumps of one JVM; `iterate_heap_ms`, `counts.zombies` and "
          "`owners_in_heap` over the dumps that counted zombies only (a dump skips the iteration when its "
          "predicted pause would pass the budget). Mid-run, `counts.zombies` also "
          "counts released OPENSSL_REFCNT engines that are garbage not yet collected (in the heap, unreachable, "
          "handle freed). Total run time %.0f s.\n" % (
              args.storm_count, args.threads, args.seconds,
              "-Xmx%s" % args.storm_heap if args.storm_heap else "default heap", args.interval, args.first_dump,
              elapsed))
    print("| JDK | dumps | pause_ms | walk_ms | follow_references_ms | iterate_heap_ms "
          "| HeapWalkOperation total ms | HeapIterateOperation total ms | jcmd wall s | zombies counted "
          "| counts.zombies | owners_in_heap |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        alld = r["dumps"]
        ds = [d for d in alld if d.get("mid", True)]
        if not ds:
            print("| %s | 0 (%d failed) | | | | | | | | | | |" % (r["label"], r["failed"]))
            continue

        def spv(op):
            return [d["sp"][op]["total_ms"] for d in ds if op in d["sp"]]

        print("| %s | %d%s | %s | %s | %s | %s | %s | %s | %s | %d of %d | %s | %s |" % (
            r["label"], len(ds), " (+%d failed)" % r["failed"] if r["failed"] else "",
            mmm([d["pause_ms"] for d in ds]), mmm([d["walk_ms"] for d in ds]),
            mmm([d["follow_references_ms"] for d in ds]), mmm([d["iterate_heap_ms"] for d in ds if d["zombies_counted"]]),
            mmm(spv("HeapWalkOperation")), mmm(spv("HeapIterateOperation")), mmm([d["jcmd_s"] for d in ds], "%.2f"),
            sum(1 for d in ds if d["zombies_counted"]), len(ds),
            mmm([d["zombies"] for d in ds if d["zombies_counted"]], "%.0f"),
            mmm([d["owners_in_heap"] for d in ds if d["zombies_counted"]], "%.0f")))
    print()
    for r in rows:
        ex = r["exit"]
        gcs = {}
        for name, f in r["gc"]:
            gcs[name] = gcs.get(name, 0) + 1
        print("- %s: %s; rc %s; first dump after %s; other safepoints in the whole run: %s" % (
            r["label"], (r["summary"] or "no SCENARIO line").replace("SCENARIO ", ""), r["rc"], r["started_by"],
            ", ".join("%s ×%d" % x for x in sorted(gcs.items())) or "none"))
        if ex:
            print("  - exit report (wait file touched after SCENARIO-DONE; exit took %.2f s): pause_ms %.1f, "
                  "walk_ms %.1f (follow %.1f, iterate %.1f), zombies %s, owners_in_heap %s; safepoint log: %s" % (
                      ex["exit_s"],
                      ex["pause_ms"] or -1, ex["walk_ms"] or -1, ex["follow_references_ms"] or -1,
                      ex["iterate_heap_ms"] or -1, ex["zombies"] if ex["zombies_counted"] else "not counted",
                      ex["owners_in_heap"], ", ".join("%s %.1f ms total (×%d)" % (op, ex["sp"][op]["total_ms"],
                                                                                 ex["sp"][op]["n"])
                                                      for op in WALK_OPS if op in ex["sp"]) or "no walk lines"))
        late = [d for d in r["dumps"] if not d.get("mid", True)]
        if late:
            print("  - %d dump%s whose heap walk ran after the storm, during its final GCs (not in the "
                  "table): %s" % (len(late), "s" if len(late) > 1 else "",
                                  "; ".join("pause_ms %.1f, walk_ms %.1f, owners_in_heap %s" % (
                                      d["pause_ms"] or -1, d["walk_ms"] or -1, d["owners_in_heap"]) for d in late)))
        skipped = [d for d in r["dumps"] if not d["zombies_counted"]]
        for n in sorted(set(n for d in skipped for n in d["notes"] if n.startswith("zombies not counted"))):
            print("  - note (%d dumps): %s" % (sum(1 for d in skipped if n in d["notes"]), n))
    print()


# ---- main ----------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("NRAUDIT_BUILD", os.path.join(HERE, "..", "build")))
    ap.add_argument("--agent", default=None, help="agent library (default BUILD/libnraudit.so)")
    ap.add_argument("--parts", default="zombies,storm", help="zombies, storm or both (comma list)")
    ap.add_argument("--jdks", default=None,
                    help="comma list of java launchers (default: java, and %s when installed)" % TEMURIN25)
    ap.add_argument("--ks", default="100000,500000,1000000", help="zombie counts (comma list)")
    ap.add_argument("--heaps", default="256m,384m,512m,768m,1g,1536m,2g,3g",
                    help="-Xmx candidates for the zombies part, smallest first: the first that fits is used")
    ap.add_argument("--reps", type=int, default=3, help="JVMs per JDK and K (zombies)")
    ap.add_argument("--storm-count", type=int, default=100000000, help="storm N (engines per thread at most)")
    ap.add_argument("--threads", type=int, default=2, help="storm threads")
    ap.add_argument("--seconds", type=int, default=12, help="storm duration")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between data dumps (storm)")
    ap.add_argument("--first-dump", type=float, default=0.5,
                    help="storm: first dump at STORM-RUNNING, but not before this many seconds after launch "
                         "(without STORM-RUNNING: this long after launch)")
    ap.add_argument("--storm-heap", default="256m", help="-Xmx of the storm JVM ('' for the JVM default)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds to wait for SCENARIO-DONE / a JVM")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (reports, safepoint logs)")
    args = ap.parse_args()

    build = os.path.abspath(args.build)
    nb = {"agent": os.path.abspath(args.agent) if args.agent else os.path.join(build, "libnraudit.so"), "native": os.path.join(build, "java-test", "native"),
          "certs": os.path.join(build, "java-test", "certs")}
    try:
        with open(os.path.join(build, "java-test", "classpath.txt")) as f:
            nb["classpath"] = f.read().strip()
    except OSError as e:
        sys.exit("pause.py: %s (build java-test first)" % e)
    if not os.path.exists(nb["agent"]):
        sys.exit("pause.py: no %s" % nb["agent"])
    javas = [x for x in (args.jdks or "java,%s" % TEMURIN25).split(",") if x]
    jdks = []
    for java in javas:
        if not (shutil.which(java) or os.path.exists(java)):
            log("pause.py: %s not installed: skipped" % java)
            continue
        label, jcmd = jdk_info(java)
        jdks.append((java, label, jcmd))
    if not jdks:
        sys.exit("pause.py: no JDK")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    work = tempfile.mkdtemp(prefix="nraudit-pause.")
    try:
        for p in parts:
            if p == "zombies":
                zombies_part(args, nb, jdks, work)
            elif p == "storm":
                storm_part(args, nb, jdks, work)
            else:
                sys.exit("pause.py: unknown part '%s'" % p)
    finally:
        if args.keep:
            log("pause: work kept in %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
