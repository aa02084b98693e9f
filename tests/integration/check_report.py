#!/usr/bin/env python3
"""Checks an nraudit JSON report against the contract, then evaluates
assertions given on the command line.

    check_report.py REPORT.json 'EXPR' ...

Each EXPR is a Python expression over:
    r            the whole report (dict)
    res(name)    the resources[] entry of a rule
    c(name)      its counts
    sites(name)  its residue sites
Exit 0 when the report is valid and every EXPR is true; else 1 with the
failing expression and the values it saw.
"""
import json
import sys

COUNT_KEYS = ["allocated", "freed", "outstanding", "freed_by_finalizer", "live",
              "pending_finalization", "finalized_not_freed", "collected_not_freed",
              "freed_with_residue", "zombies", "orphans"]


def contract_errors(r):
    errs = []
    if r.get("schema") != "nraudit/report-v1":
        errs.append("schema is %r" % r.get("schema"))
    if r.get("trigger") not in ("exit", "datadump", "interval", "command"):
        errs.append("trigger is %r" % r.get("trigger"))
    for k in ("pid", "timestamp_ms", "uptime_ms"):
        if not isinstance(r.get(k), int):
            errs.append("%s is not an integer" % k)
    agent = r.get("agent", {})
    for k, t in (("version", str), ("options", str), ("dropped", int), ("notes", list)):
        if not isinstance(agent.get(k), t):
            errs.append("agent.%s missing or not %s" % (k, t.__name__))
    if not isinstance(r.get("resources"), list):
        errs.append("resources is not a list")
        return errs
    walked = agent.get("reachability", {}).get("done", False)
    for res in r["resources"]:
        name = res.get("rule")
        for k in ("rule", "owner_class", "alloc_native", "free_native"):
            if not isinstance(res.get(k), str):
                errs.append("%s: %s missing" % (name, k))
        cnt = res.get("counts", {})
        for k in COUNT_KEYS:
            if not isinstance(cnt.get(k), int) or cnt[k] < 0:
                errs.append("%s: counts.%s missing or negative" % (name, k))
        if errs:
            continue
        if cnt["outstanding"] != cnt["allocated"] - cnt["freed"]:
            errs.append("%s: outstanding != allocated - freed" % name)
        classes = sum(cnt[k] for k in ("live", "pending_finalization", "finalized_not_freed",
                                       "collected_not_freed", "orphans"))
        if classes != cnt["outstanding"]:
            errs.append("%s: classes sum to %d, outstanding %d" % (name, classes, cnt["outstanding"]))
        resid = res.get("residue", {})
        if not isinstance(resid.get("sites"), list):
            errs.append("%s: residue.sites missing" % name)
        for s in resid.get("sites", []):
            for k in ("bytes", "allocations", "owners", "size_each"):
                if not isinstance(s.get(k), int):
                    errs.append("%s: site.%s missing" % (name, k))
            if not isinstance(s.get("native_stack"), list) or not isinstance(s.get("java_stack"), list):
                errs.append("%s: site stacks missing" % name)
        for f in res.get("findings", []):
            if f.get("kind") not in ("residue", "finalized_not_freed", "collected_not_freed",
                                     "pending_finalization"):
                errs.append("%s: finding kind %r" % (name, f.get("kind")))
        if not walked and cnt["live"] != cnt["outstanding"] - cnt["orphans"]:
            errs.append("%s: no walk but live != unclassified remainder" % name)
    return errs


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    try:
        with open(sys.argv[1]) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        print("FAIL: %s: not valid JSON: %s" % (sys.argv[1], e))
        return 1
    errs = contract_errors(r)
    if errs:
        print("FAIL: %s breaks the contract:\n  %s" % (sys.argv[1], "\n  ".join(errs)))
        return 1

    def res(name):
        for x in r["resources"]:
            if x["rule"] == name:
                return x
        raise KeyError("no rule %s in report" % name)

    def c(name):
        return res(name)["counts"]

    def sites(name):
        return res(name)["residue"]["sites"]

    def nsites(name):
        return res(name)["residue"]["native_sites"]

    def bound(table):
        return [b for b in r["agent"]["bounds"] if b["table"] == table][0]

    env = {"r": r, "res": res, "c": c, "sites": sites, "nsites": nsites, "bound": bound}
    ok = True
    for expr in sys.argv[2:]:
        try:
            value = eval(expr, env)
        except Exception as e:  # report the expression, not a traceback
            print("FAIL: %s raised %s: %s" % (expr, type(e).__name__, e))
            ok = False
            continue
        if not value:
            print("FAIL: %s" % expr)
            ok = False
        else:
            print("ok: %s" % expr)
    if not ok:
        for x in r["resources"]:
            print("  %s counts: %s" % (x["rule"], json.dumps(x["counts"])))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
